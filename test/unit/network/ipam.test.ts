import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { Ipam } from '../../../src/network/ipam.js';

describe('Ipam (file leases)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tvctl-ipam-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('lowest free address, skipping the gateway; persisted', async () => {
    const ipam = new Ipam(dir);
    expect(await ipam.allocate('n', '10.89.0.0/24', '10.89.0.1', 'c1')).toBe('10.89.0.2');
    expect(await ipam.allocate('n', '10.89.0.0/24', '10.89.0.1', 'c2')).toBe('10.89.0.3');
    expect(await readFile(join(dir, 'n', '10.89.0.3'), 'utf8')).toBe('c2');
    // Another instance sees the same leases.
    expect((await new Ipam(dir).leases('n')).map((l) => [l.ip, l.containerId])).toEqual([
      ['10.89.0.2', 'c1'],
      ['10.89.0.3', 'c2'],
    ]);
  });

  test('a gateway in the middle is skipped', async () => {
    const ipam = new Ipam(dir);
    expect(await ipam.allocate('n', '10.89.0.0/24', '10.89.0.2', 'c1')).toBe('10.89.0.1');
    expect(await ipam.allocate('n', '10.89.0.0/24', '10.89.0.2', 'c2')).toBe('10.89.0.3');
  });

  test('200 concurrent allocations are all distinct', async () => {
    const ipam = new Ipam(dir);
    const ips = await Promise.all(
      Array.from({ length: 200 }, (_, i) => ipam.allocate('n', '10.89.0.0/16', '10.89.0.1', `c${i}`)),
    );
    expect(new Set(ips).size).toBe(200);
    expect(await ipam.leases('n')).toHaveLength(200);
  });

  test('exhaustion is a clear error; release frees the address for reuse', async () => {
    const ipam = new Ipam(dir);
    // /30: .0 network, .1 gateway, .2 the only host, .3 broadcast
    expect(await ipam.allocate('tiny', '10.9.9.0/30', '10.9.9.1', 'a')).toBe('10.9.9.2');
    await expect(ipam.allocate('tiny', '10.9.9.0/30', '10.9.9.1', 'b')).rejects.toThrow(
      /no free address left in network "tiny"/,
    );
    const gone = await ipam.releaseAll((id) => id === 'a');
    expect(gone.map((l) => l.ip)).toEqual(['10.9.9.2']);
    expect(await ipam.allocate('tiny', '10.9.9.0/30', '10.9.9.1', 'b')).toBe('10.9.9.2');
  });
});
