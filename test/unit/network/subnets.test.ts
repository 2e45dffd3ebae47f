import { describe, expect, test } from 'vitest';
import { isHostVethOf, hostVethFor } from '../../../src/network/names.js';
import { chooseGateway, chooseUserSubnet, pickDefaultSubnet } from '../../../src/network/subnets.js';
import type { NetworkRecord } from '../../../src/network/types.js';

const net = (name: string, subnet: string): NetworkRecord => ({
  name,
  id: name.padEnd(64, '0'),
  driver: 'bridge',
  bridge: `tvbr-${name}`,
  subnet,
  gateway: '',
  internal: false,
  created: '',
});

describe('subnet and gateway choice', () => {
  test('a requested subnet is normalised and must clear the networks and the host routes', () => {
    expect(chooseUserSubnet('10.200.0.0/24', [], [])).toBe('10.200.0.0/24');
    expect(() => chooseUserSubnet('10.200.0.0/23', [net('a', '10.200.1.0/24')], [])).toThrow(
      /overlaps network "a" \(10.200.1.0\/24\)/,
    );
    expect(() => chooseUserSubnet('192.168.0.0/16', [], [{ dst: '192.168.5.0/24', dev: 'wlan0' }])).toThrow(
      /overlaps host route 192.168.5.0\/24 dev wlan0/,
    );
    expect(() => chooseUserSubnet('10.200.0.1/24', [], [])).toThrow(/host bits set/);
    expect(chooseUserSubnet(undefined, [net('a', '10.89.0.0/24')], [])).toBe('10.89.1.0/24');
  });
  test('the gateway defaults to the first host and must be a host address of the subnet', () => {
    expect(chooseGateway('10.200.0.0/24', undefined)).toBe('10.200.0.1');
    expect(chooseGateway('10.200.0.0/24', '10.200.0.254')).toBe('10.200.0.254');
    for (const bad of ['10.200.0.0', '10.200.0.255', '10.201.0.1', 'gw'])
      expect(() => chooseGateway('10.200.0.0/24', bad)).toThrow(/not a usable address/);
  });
  test('the default network adopts an existing tvctl0, else the first candidate clear of routes and networks', () => {
    expect(pickDefaultSubnet({ ip: '10.88.0.1', prefixLen: 16 }, [{ dst: '10.88.0.0/16' }], [])).toBe('10.88.0.0/16');
    expect(pickDefaultSubnet(undefined, [], [])).toBe('10.88.0.0/16');
    expect(pickDefaultSubnet(undefined, [{ dst: '10.88.7.0/24' }], [net('x', '10.87.0.0/24')])).toBe('172.30.0.0/16');
    expect(() => pickDefaultSubnet(undefined, [{ dst: '0.0.0.0/1' }, { dst: '128.0.0.0/1' }], [])).toThrow(
      /no free subnet for the default network/,
    );
  });
});

describe('host veth ends of a container', () => {
  test('tv<key> and tv<key>1..9, nothing else', () => {
    const id = 'abcdef0123456789'.repeat(4);
    expect(isHostVethOf(id, hostVethFor(id))).toBe(true);
    expect(isHostVethOf(id, hostVethFor(id, 3))).toBe(true);
    expect(isHostVethOf(id, `${hostVethFor(id)}x`)).toBe(false);
    expect(isHostVethOf(id, hostVethFor('bbcdef0123456789'.repeat(4)))).toBe(false);
    expect(isHostVethOf(id, 'tvctl0')).toBe(false);
  });
});
