import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { NetworkManager } from '../../../src/network/index.js';

/** Network records on a temp data root (no kernel objects are created: only read-only `ip` queries run). */
describe('NetworkManager records', () => {
  let dir: string;
  let mgr: NetworkManager;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tvctl-netrec-'));
    mgr = new NetworkManager({ stateRoot: join(dir, 's'), dataRoot: join(dir, 'd'), lockPath: join(dir, 'lock') });
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

  test('remove deletes the record; the default network cannot be removed', async () => {
    await mgr.create('gone', {});
    await expect(mgr.remove('bridge')).rejects.toThrow(/pre-defined/);
    await mgr.remove('gone');
    await expect(mgr.inspect('gone')).rejects.toThrow(/not found/);
  });
});
