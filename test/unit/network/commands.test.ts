import { describe, expect, test } from 'vitest';
import {
  bridgeCreateLines,
  bridgePortLines,
  ipBatch,
  ipCmd,
  netnsSetupLines,
  sysctlKeys,
  sysctlSet,
} from '../../../src/network/commands.js';
import {
  containerComment,
  deleteRulesScript,
  networkRulesScript,
  onlySkeletonLeft,
  parsePublishedPorts,
  parseRules,
  portRulesScript,
  skeletonComplete,
  skeletonScript,
} from '../../../src/network/nft.js';
import { bridgeNameFor, containerKey, hostVethFor, netnsNameFor } from '../../../src/network/names.js';
import { pickUserSubnet } from '../../../src/network/subnets.js';

describe('iproute2 / sysctl builders', () => {
  test('veth peer is created inside the netns as eth0', () => {
    expect(ipCmd.vethAdd('tv0123456789ab', 'tvctl-0123456789ab')).toEqual({
      file: 'ip',
      args: ['link', 'add', 'tv0123456789ab', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', 'tvctl-0123456789ab'],
    });
  });
  test('netns-scoped commands use -n', () => {
    expect(ipCmd.addrAddIn('tvctl-x', 'eth0', '10.89.0.2/24').args).toEqual([
      '-n',
      'tvctl-x',
      'addr',
      'add',
      '10.89.0.2/24',
      'dev',
      'eth0',
    ]);
    expect(ipCmd.routeDefaultIn('tvctl-x', '10.89.0.1').args).toEqual([
      '-n',
      'tvctl-x',
      'route',
      'add',
      'default',
      'via',
      '10.89.0.1',
    ]);
    expect(ipCmd.linkUpIn('tvctl-x', 'lo').args).toEqual(['-n', 'tvctl-x', 'link', 'set', 'dev', 'lo', 'up']);
  });
  test('bridge and enslave', () => {
    expect(ipCmd.bridgeAdd('tvbr-web').args).toEqual(['link', 'add', 'name', 'tvbr-web', 'type', 'bridge']);
    expect(ipCmd.linkSetMasterUp('tvab', 'tvbr-web').args).toEqual([
      'link',
      'set',
      'dev',
      'tvab',
      'master',
      'tvbr-web',
      'up',
    ]);
  });
  test('netns setup is one ip -n NS -batch process; no default route on internal networks', () => {
    const b = ipBatch(
      'tvctl-x',
      netnsSetupLines({ mac: '02:42:0a:59:00:02', cidr: '10.89.0.2/24', gateway: '10.89.0.1' }),
    );
    expect(b.cmd).toEqual({ file: 'ip', args: ['-n', 'tvctl-x', '-batch', '-'] });
    expect(b.input).toBe(
      [
        'link set dev lo up',
        'link set dev eth0 address 02:42:0a:59:00:02',
        'addr add 10.89.0.2/24 dev eth0',
        'link set dev eth0 up',
        'route add default via 10.89.0.1',
        '',
      ].join('\n'),
    );
    expect(ipBatch('n', netnsSetupLines({ mac: 'm', cidr: 'c' })).input).not.toContain('route');
    // Interfaces added by connect: no lo, no default route (it stays on eth0).
    expect(netnsSetupLines({ mac: 'm', cidr: '10.90.0.2/24', gateway: '10.90.0.1', ifname: 'eth1' })).toEqual([
      ['link', 'set', 'dev', 'eth1', 'address', 'm'],
      ['addr', 'add', '10.90.0.2/24', 'dev', 'eth1'],
      ['link', 'set', 'dev', 'eth1', 'up'],
    ]);
    expect(ipBatch(undefined, bridgeCreateLines('tvbr-a', '10.89.0.1/24'))).toEqual({
      cmd: { file: 'ip', args: ['-batch', '-'] },
      input: 'link add name tvbr-a type bridge\naddr add 10.89.0.1/24 dev tvbr-a\nlink set dev tvbr-a up\n',
    });
  });
  test('bridge port: enslave, up, hairpin in one batch', () => {
    expect(ipBatch(undefined, bridgePortLines('tvab', 'tvbr-a')).input).toBe(
      'link set dev tvab master tvbr-a up\nlink set dev tvab type bridge_slave hairpin on\n',
    );
  });
  test('sysctl', () => {
    expect(sysctlSet(sysctlKeys.routeLocalnet('tvctl0'), '1')).toEqual({
      file: 'sysctl',
      args: ['-q', '-w', 'net.ipv4.conf.tvctl0.route_localnet=1'],
    });
  });
});

describe('names', () => {
  test('kernel object names fit IFNAMSIZ and derive from the id', () => {
    const id = 'abcdef0123456789'.repeat(4);
    expect(containerKey(id)).toBe('abcdef012345');
    expect(netnsNameFor(id)).toBe('tvctl-abcdef012345');
    expect(hostVethFor(id)).toBe('tvabcdef012345');
    expect(hostVethFor(id).length).toBeLessThanOrEqual(15);
    expect(hostVethFor(id, 9)).toBe('tvabcdef0123459');
    expect(hostVethFor(id, 9).length).toBe(15);
    // Non-hex ids are hashed, deterministically.
    expect(containerKey('my-container')).toMatch(/^[0-9a-f]{12}$/);
    expect(containerKey('my-container')).toBe(containerKey('my-container'));
  });
  test('bridge names', () => {
    expect(bridgeNameFor('bridge')).toBe('tvctl0');
    expect(bridgeNameFor('web')).toBe('tvbr-web');
    expect(bridgeNameFor('tenant-one')).toBe('tvbr-tenant-one');
    const long = bridgeNameFor('Tenant_Number.Eleven');
    expect(long).toMatch(/^tvbr-[0-9a-f]{10}$/);
    expect(long.length).toBe(15);
  });
  test('user subnets skip existing networks and host routes', () => {
    expect(pickUserSubnet([], [])).toBe('10.89.0.0/24');
    expect(pickUserSubnet(['10.89.0.0/24'], [{ dst: '10.89.1.0/24', dev: 'eth0' }])).toBe('10.89.2.0/24');
    expect(pickUserSubnet([], [{ dst: '10.89.0.0/16' }])).toBe('10.90.0.0/24');
    expect(pickUserSubnet([], [{ dst: '10.89.0.7' }])).toBe('10.89.1.0/24');
  });
});

describe('nftables scripts', () => {
  test('skeleton: our own table, NAT hooks, forward order internal → dnat accept → isolation', () => {
    const s = skeletonScript();
    expect(s).toContain('add table ip tvctl');
    expect(s).toContain('add chain ip tvctl prerouting { type nat hook prerouting priority -100 ; policy accept ; }');
    expect(s).toContain('add rule ip tvctl output fib daddr type local jump publish');
    const fwd = s.split('\n').filter((l) => l.startsWith('add rule ip tvctl forward'));
    expect(fwd).toEqual([
      'add rule ip tvctl forward jump fwd-internal',
      'add rule ip tvctl forward ct status dnat accept',
      'add rule ip tvctl forward jump fwd-isolate',
    ]);
  });
  test('network rules are tagged; internal networks get drops and no masquerade out', () => {
    const open = networkRulesScript({ bridge: 'tvbr-a', subnet: '10.89.0.0/24', internal: false });
    expect(open).toContain(
      'add rule ip tvctl postrouting ip saddr 10.89.0.0/24 oifname != "tvbr-a" masquerade comment "tvctl net tvbr-a"',
    );
    expect(open).toContain(
      'add rule ip tvctl fwd-isolate iifname "tvbr-a" oifname != "tvbr-a" oifname "tv*" drop comment "tvctl net tvbr-a"',
    );
    expect(open).not.toContain('fwd-internal');
    const internal = networkRulesScript({ bridge: 'tvbr-i', subnet: '10.89.1.0/24', internal: true });
    expect(internal).toContain(
      'add rule ip tvctl fwd-internal iifname "tvbr-i" oifname != "tvbr-i" drop comment "tvctl net tvbr-i"',
    );
    expect(internal).toContain(
      'add rule ip tvctl fwd-internal oifname "tvbr-i" iifname != "tvbr-i" drop comment "tvctl net tvbr-i"',
    );
    expect(internal).not.toMatch(/oifname != "tvbr-i" masquerade/);
    for (const line of (open + internal).trim().split('\n')) expect(line).toMatch(/comment "tvctl net tvbr-[ai]"$/);
  });
  test('port rules: all host addresses vs one address, tcp and udp', () => {
    const s = portRulesScript('abcdef012345', '10.89.0.2', [
      { hostIp: '0.0.0.0', hostPort: 18080, containerPort: 80, protocol: 'tcp' },
      { hostIp: '127.0.0.1', hostPort: 5353, containerPort: 53, protocol: 'udp' },
    ]);
    expect(s.trim().split('\n')).toEqual([
      'add rule ip tvctl publish tcp dport 18080 dnat to 10.89.0.2:80 comment "tvctl ctr abcdef012345"',
      'add rule ip tvctl publish ip daddr 127.0.0.1 udp dport 5353 dnat to 10.89.0.2:53 comment "tvctl ctr abcdef012345"',
    ]);
  });
  test('parses handles and comments from nft -j output; deletes by handle', () => {
    const json = JSON.stringify({
      nftables: [
        { metainfo: { version: '1.0.6', json_schema_version: 1 } },
        { table: { family: 'ip', name: 'tvctl', handle: 1 } },
        { chain: { family: 'ip', table: 'tvctl', name: 'publish', handle: 1 } },
        { rule: { family: 'ip', table: 'tvctl', chain: 'output', handle: 9, expr: [] } },
        {
          rule: {
            family: 'ip',
            table: 'tvctl',
            chain: 'publish',
            handle: 12,
            comment: containerComment('abcdef012345'),
            expr: [],
          },
        },
        { rule: { family: 'ip', table: 'other', chain: 'publish', handle: 13, comment: 'x', expr: [] } },
      ],
    });
    const rules = parseRules(json);
    expect(rules).toEqual([
      { chain: 'output', handle: 9 },
      { chain: 'publish', handle: 12, comment: 'tvctl ctr abcdef012345' },
    ]);
    expect(onlySkeletonLeft(rules)).toBe(false);
    expect(skeletonComplete(rules)).toBe(false);
    const full = [
      { chain: 'prerouting', handle: 1 },
      { chain: 'output', handle: 2 },
      { chain: 'forward', handle: 3 },
      { chain: 'forward', handle: 4 },
      { chain: 'forward', handle: 5 },
      { chain: 'publish', handle: 6, comment: 'tvctl ctr x' },
    ];
    expect(skeletonComplete(full)).toBe(true);
    expect(onlySkeletonLeft(rules.slice(0, 1))).toBe(true);
    expect(deleteRulesScript(rules.slice(1))).toBe('delete rule ip tvctl publish handle 12\n');
  });
  test('reads the host side of published ports back from the kernel listing', () => {
    const json = JSON.stringify({
      nftables: [
        {
          rule: {
            family: 'ip',
            table: 'tvctl',
            chain: 'publish',
            handle: 2,
            comment: 'tvctl ctr a',
            expr: [
              { match: { op: '==', left: { payload: { protocol: 'ip', field: 'daddr' } }, right: '127.0.0.1' } },
              { match: { op: '==', left: { payload: { protocol: 'udp', field: 'dport' } }, right: 5353 } },
              { dnat: { addr: '10.89.0.2', port: 53 } },
            ],
          },
        },
        {
          rule: {
            family: 'ip',
            table: 'tvctl',
            chain: 'publish',
            handle: 3,
            expr: [
              { match: { op: '==', left: { payload: { protocol: 'tcp', field: 'dport' } }, right: 18080 } },
              { dnat: { addr: '10.89.0.2', port: 80 } },
            ],
          },
        },
        { rule: { family: 'ip', table: 'tvctl', chain: 'prerouting', handle: 4, expr: [] } },
      ],
    });
    expect(parsePublishedPorts(json)).toEqual([
      { hostIp: '127.0.0.1', hostPort: 5353, protocol: 'udp' },
      { hostIp: '0.0.0.0', hostPort: 18080, protocol: 'tcp' },
    ]);
  });
});
