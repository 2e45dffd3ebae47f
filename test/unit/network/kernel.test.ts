import { describe, expect, test } from 'vitest';
import { NetworkKernel } from '../../../src/network/kernel.js';
import type { NetworkRecord } from '../../../src/network/types.js';
import { FakeRunner } from './fake-runner.js';

const NET: NetworkRecord = {
  name: 'backend',
  id: 'f'.repeat(64),
  driver: 'bridge',
  bridge: 'tvbr-backend',
  subnet: '10.89.3.0/24',
  gateway: '10.89.3.1',
  internal: true,
  created: '2026-01-01T00:00:00.000Z',
};

/** `nft -j -a list table ip tvctl` output holding these rules. */
const listing = (rules: Array<{ chain: string; handle: number; comment?: string }>): string =>
  JSON.stringify({ nftables: rules.map((r) => ({ rule: { family: 'ip', table: 'tvctl', ...r, expr: [] } })) });
const SKELETON = [
  { chain: 'prerouting', handle: 1 },
  { chain: 'output', handle: 2 },
  { chain: 'forward', handle: 3 },
  { chain: 'forward', handle: 4 },
  { chain: 'forward', handle: 5 },
];
const NO_TABLE = { exitCode: 1, stderr: 'Error: No such file or directory' };
const NO_DEVICE = { exitCode: 1, stderr: 'Device "tvbr-backend" does not exist.' };

describe('NetworkKernel (recording runner)', () => {
  test('a network on a fresh host: bridge with its gateway in one ip batch, route_localnet, skeleton + rules in one nft batch', async () => {
    const runner = new FakeRunner([
      ['nft -j -a list table', NO_TABLE],
      ['ip -j -4 addr show dev tvbr-backend', NO_DEVICE],
    ]);
    await new NetworkKernel(runner).ensureNetwork(NET);
    expect(runner.lines()).toEqual([
      'nft -j -a list table ip tvctl',
      'ip -j -4 addr show dev tvbr-backend',
      'ip -batch -',
      'sysctl -q -w net.ipv4.conf.tvbr-backend.route_localnet=1',
      'nft -f -',
    ]);
    expect(runner.ran[2]!.input).toBe(
      'link add name tvbr-backend type bridge\naddr add 10.89.3.1/24 dev tvbr-backend\nlink set dev tvbr-backend up\n',
    );
    const script = runner.ran[4]!.input!;
    expect(script.startsWith('add table ip tvctl\n')).toBe(true);
    expect(script).toContain('comment "tvctl net tvbr-backend"');
  });

  test('an existing bridge with the right address and rules is adopted as it is', async () => {
    const runner = new FakeRunner([
      [
        'nft -j -a list table',
        { stdout: listing([...SKELETON, { chain: 'fwd-internal', handle: 7, comment: 'tvctl net tvbr-backend' }]) },
      ],
      [
        'ip -j -4 addr show dev tvbr-backend',
        { stdout: JSON.stringify([{ addr_info: [{ family: 'inet', local: '10.89.3.1', prefixlen: 24 }] }]) },
      ],
    ]);
    await new NetworkKernel(runner).ensureNetwork(NET);
    expect(runner.lines()).toEqual(['nft -j -a list table ip tvctl', 'ip -j -4 addr show dev tvbr-backend']);
  });

  test('a bridge with another address, or a half-made table holding rules, is refused', async () => {
    const wrongAddress = new FakeRunner([
      ['nft -j -a list table', NO_TABLE],
      [
        'ip -j -4 addr show dev tvbr-backend',
        { stdout: JSON.stringify([{ addr_info: [{ family: 'inet', local: '10.1.1.1', prefixlen: 24 }] }]) },
      ],
    ]);
    await expect(new NetworkKernel(wrongAddress).ensureNetwork(NET)).rejects.toThrow(
      /bridge tvbr-backend exists with address 10.1.1.1\/24, not 10.89.3.1\/24/,
    );
    const damaged = new FakeRunner([
      ['nft -j -a list table', { stdout: listing([{ chain: 'publish', handle: 9, comment: 'tvctl ctr x' }]) }],
    ]);
    await expect(new NetworkKernel(damaged).ensureNetwork(NET)).rejects.toThrow(/incomplete but holds rules/);
    expect(damaged.lines().some((l) => l.startsWith('nft -f'))).toBe(false);
  });

  test('a bridge goes only when no port is left on it, and takes its rules (or the whole table) with it', async () => {
    const inUse = new FakeRunner([['ip -j link show master', { stdout: JSON.stringify([{ ifname: 'tvabc' }]) }]]);
    await new NetworkKernel(inUse).teardownNetworkIfUnused(NET);
    expect(inUse.lines()).toEqual(['ip -j link show master tvbr-backend']);

    const lastRules = new FakeRunner([
      ['ip -j link show master', { stdout: '[]' }],
      [
        'nft -j -a list table',
        { stdout: listing([...SKELETON, { chain: 'fwd-internal', handle: 7, comment: 'tvctl net tvbr-backend' }]) },
      ],
    ]);
    await new NetworkKernel(lastRules).teardownNetworkIfUnused(NET);
    expect(lastRules.lines()).toEqual([
      'ip -j link show master tvbr-backend',
      'ip link delete dev tvbr-backend',
      'nft -j -a list table ip tvctl',
      'nft -f -',
    ]);
    expect(lastRules.ran[3]!.input).toBe('delete table ip tvctl\n');

    const otherRules = new FakeRunner([
      ['ip -j link show master', { stdout: '[]' }],
      [
        'nft -j -a list table',
        {
          stdout: listing([
            ...SKELETON,
            { chain: 'fwd-internal', handle: 7, comment: 'tvctl net tvbr-backend' },
            { chain: 'fwd-isolate', handle: 8, comment: 'tvctl net tvctl0' },
          ]),
        },
      ],
    ]);
    await new NetworkKernel(otherRules).teardownNetworkIfUnused(NET);
    expect(otherRules.ran.at(-1)!.input).toBe('delete rule ip tvctl fwd-internal handle 7\n');
  });

  test('deleting a link that is already gone is fine; any other failure is reported', async () => {
    const gone = new FakeRunner([['ip link delete', { exitCode: 1, stderr: 'Cannot find device "tvx"' }]]);
    await new NetworkKernel(gone).deleteLinkIfPresent('tvx');
    const busy = new FakeRunner([
      ['ip link delete', { exitCode: 2, stderr: 'RTNETLINK answers: Operation not permitted' }],
    ]);
    await expect(new NetworkKernel(busy).deleteLinkIfPresent('tvx')).rejects.toThrow(/Operation not permitted/);
  });

  test('host routes without the default route; link names without the peer suffix', async () => {
    const runner = new FakeRunner([
      [
        'ip -j -4 route',
        {
          stdout: JSON.stringify([
            { dst: 'default', dev: 'eth0' },
            { dst: '10.0.0.0/8', dev: 'eth0' },
            { dst: '192.168.1.7' },
          ]),
        },
      ],
      ['ip -j link show', { stdout: JSON.stringify([{ ifname: 'lo' }, { ifname: 'tvabcdef012345@if2' }]) }],
    ]);
    const kernel = new NetworkKernel(runner);
    expect(await kernel.hostRoutes()).toEqual([{ dst: '10.0.0.0/8', dev: 'eth0' }, { dst: '192.168.1.7' }]);
    expect(await kernel.linkNames()).toEqual(['lo', 'tvabcdef012345']);
  });
});
