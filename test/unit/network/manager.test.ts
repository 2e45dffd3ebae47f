import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { NetworkManager } from '../../../src/network/index.js';
import { FakeRunner } from './fake-runner.js';

/** The host as the fake `ip` reports it: a route over the default network's first candidate, no tvctl0 yet. */
const HOST_ROUTES = JSON.stringify([
  { dst: 'default', dev: 'eth0' },
  { dst: '10.88.0.0/16', dev: 'eth9' },
  { dst: '10.210.0.0/24', dev: 'eth0' },
]);

/** Network records on a temp data root; `ip` is a recording fake, so nothing touches the host. */
describe('NetworkManager records', () => {
  let dir: string;
  let runner: FakeRunner;
  let mgr: NetworkManager;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tvctl-netrec-'));
    runner = new FakeRunner([
      ['ip -j -4 route show', { stdout: HOST_ROUTES }],
      ['ip -j -4 addr show dev tvctl0', { exitCode: 1, stderr: 'Device "tvctl0" does not exist.' }],
      ['ip -j link show master', { exitCode: 1, stderr: 'Cannot find device' }],
      ['nft -j -a list table ip tvctl', { exitCode: 1, stderr: 'No such file or directory' }],
    ]);
    mgr = new NetworkManager({
      stateRoot: join(dir, 's'),
      dataRoot: join(dir, 'd'),
      lockPath: join(dir, 'lock'),
      runner,
    });
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('create validates names, subnets and gateways', async () => {
    const a = await mgr.create('tenant-a', { subnet: '10.201.0.0/24' });
    expect(a).toMatchObject({
      name: 'tenant-a',
      bridge: 'tvbr-tenant-a',
      subnet: '10.201.0.0/24',
      gateway: '10.201.0.1',
      internal: false,
    });
    expect(a.id).toMatch(/^[0-9a-f]{64}$/);
    await expect(mgr.create('tenant-a', {})).rejects.toThrow(/already exists/);
    await expect(mgr.create('bridge', {})).rejects.toThrow(/pre-defined/);
    await expect(mgr.create('host', {})).rejects.toThrow(/pre-defined/);
    await expect(mgr.create('../x', {})).rejects.toThrow(/invalid network name/);
    await expect(mgr.create('b', { subnet: '10.201.0.128/25' })).rejects.toThrow(/overlaps network "tenant-a"/);
    await expect(mgr.create('c', { subnet: '10.202.0.0/24', gateway: '10.203.0.1' })).rejects.toThrow(
      /not a usable address/,
    );
    await expect(mgr.create('c', { subnet: '10.202.0.0/24', gateway: '10.202.0.255' })).rejects.toThrow(
      /not a usable address/,
    );
    const c = await mgr.create('c', { subnet: '10.202.0.0/24', gateway: '10.202.0.254', internal: true });
    expect(c).toMatchObject({ gateway: '10.202.0.254', internal: true });
    await expect(mgr.create('d', { subnet: '10.210.0.0/25' })).rejects.toThrow(
      /overlaps host route 10.210.0.0\/24 dev eth0/,
    );
    expect((await mgr.create('e', {})).subnet).toBe('10.89.0.0/24');
    // Creating a network only reads the routes; bridges come with the first container.
    expect(new Set(runner.lines())).toEqual(new Set(['ip -j -4 route show table main']));
  });

  test('the default network takes the first candidate subnet clear of the host routes, or adopts tvctl0', async () => {
    expect((await mgr.list())[0]).toMatchObject({ subnet: '10.87.0.0/16', gateway: '10.87.0.1' });
    const adopting = new NetworkManager({
      stateRoot: join(dir, 's2'),
      dataRoot: join(dir, 'd2'),
      lockPath: join(dir, 'lock'),
      runner: new FakeRunner([
        [
          'ip -j -4 addr show dev tvctl0',
          { stdout: JSON.stringify([{ addr_info: [{ family: 'inet', local: '10.88.0.1', prefixlen: 16 }] }]) },
        ],
      ]),
    });
    expect((await adopting.list())[0]).toMatchObject({ subnet: '10.88.0.0/16', gateway: '10.88.0.1' });
  });

  test('list starts with the default bridge; inspect by name or unique ID prefix; lookups never leave the store', async () => {
    const a = await mgr.create('alpha', {});
    const list = await mgr.list();
    expect(list[0]).toMatchObject({ name: 'bridge', bridge: 'tvctl0' });
    expect(list.map((n) => n.name)).toEqual(['bridge', 'alpha']);
    expect((await mgr.inspect('alpha')).containers).toEqual([]);
    expect((await mgr.inspect(a.id.slice(0, 6))).name).toBe('alpha');
    await expect(mgr.inspect('../../etc/passwd')).rejects.toThrow(/not found/);
    await expect(mgr.inspect('nosuch')).rejects.toThrow(/network "nosuch" not found/);
  });

  test('the listing: the default bridge and the user networks, then the pseudo-networks host and none', async () => {
    const a = await mgr.create('alpha', { internal: true });
    const rows = await mgr.listing();
    expect(rows.map((r) => [r.name, r.driver, r.bridge, r.internal])).toEqual([
      ['bridge', 'bridge', 'tvctl0', false],
      ['alpha', 'bridge', 'tvbr-alpha', true],
      ['host', 'host', '', false],
      ['none', 'null', '', false],
    ]);
    expect(rows[1]).toMatchObject({ id: a.id, subnet: a.subnet, gateway: a.gateway });
    // The pseudo-networks' ids are the same for every data root.
    const other = new NetworkManager({
      stateRoot: join(dir, 's3'),
      dataRoot: join(dir, 'd3'),
      lockPath: join(dir, 'lock'),
      runner,
    });
    const pseudo = (await other.listing()).slice(-2);
    expect(pseudo.map((r) => r.id)).toEqual(rows.slice(-2).map((r) => r.id));
    expect(pseudo[0]!.id).toMatch(/^[0-9a-f]{64}$/);
    expect(pseudo[0]!.id).not.toBe(pseudo[1]!.id);
  });

  test('remove deletes the record; the default network cannot be removed', async () => {
    await mgr.create('gone', {});
    await expect(mgr.remove('bridge')).rejects.toThrow(/pre-defined/);
    await mgr.remove('gone');
    await expect(mgr.inspect('gone')).rejects.toThrow(/not found/);
    // No bridge and no nft table: nothing to delete in the kernel.
    expect(runner.lines()).toContain('ip -j link show master tvbr-gone');
    expect(runner.lines().filter((l) => / delete |^nft -f/.test(l))).toEqual([]);
  });
});
