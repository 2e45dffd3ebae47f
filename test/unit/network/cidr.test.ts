import { describe, expect, test } from 'vitest';
import {
  contains,
  formatSubnet,
  intToIp,
  ipToInt,
  isIPv4,
  macForIp,
  overlaps,
  parseSubnet,
} from '../../../src/network/cidr.js';

describe('cidr', () => {
  test('ip <-> int round trip, including high bit', () => {
    for (const ip of ['0.0.0.0', '10.88.0.1', '192.168.240.255', '255.255.255.255'])
      expect(intToIp(ipToInt(ip))).toBe(ip);
    expect(ipToInt('255.255.255.255')).toBe(0xffffffff);
  });
  test('isIPv4', () => {
    expect(isIPv4('10.0.0.1')).toBe(true);
    expect(isIPv4('10.0.0.256')).toBe(false);
    expect(isIPv4('10.0.0')).toBe(false);
    expect(isIPv4('01.0.0.1')).toBe(false);
  });
  test('parseSubnet validates and refuses host bits', () => {
    expect(formatSubnet(parseSubnet('10.89.3.0/24'))).toBe('10.89.3.0/24');
    expect(() => parseSubnet('10.89.3.5/24')).toThrow(/did you mean 10.89.3.0\/24/);
    expect(() => parseSubnet('10.0.0.0/31')).toThrow(/between 8 and 30/);
    expect(() => parseSubnet('10.0.0.0')).toThrow(/A.B.C.D\/LEN/);
  });
  test('overlaps and contains', () => {
    expect(overlaps(parseSubnet('10.88.0.0/16'), parseSubnet('10.88.5.0/24'))).toBe(true);
    expect(overlaps(parseSubnet('10.88.0.0/16'), parseSubnet('10.89.0.0/24'))).toBe(false);
    expect(contains(parseSubnet('192.168.240.0/20'), ipToInt('192.168.255.254'))).toBe(true);
    expect(contains(parseSubnet('192.168.240.0/20'), ipToInt('192.169.0.1'))).toBe(false);
  });
  test('MAC derived from the address, locally administered', () => {
    expect(macForIp('10.89.0.2')).toBe('02:42:0a:59:00:02');
  });
});
