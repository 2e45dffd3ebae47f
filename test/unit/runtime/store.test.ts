import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newId } from '../../../src/runtime/ids.js';
import { ContainerStore } from '../../../src/runtime/store.js';

let dir: string;
let store: ContainerStore;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tvctl-unit-'));
  store = new ContainerStore({ state: join(dir, 'state'), data: join(dir, 'data') });
});
afterEach(() => rm(dir, { recursive: true, force: true }));

function record(id: string, name: string) {
  return { id, name, created: new Date().toISOString() } as unknown as Parameters<ContainerStore['save']>[0];
}

describe('ContainerStore', () => {
  it('resolves full ids, unique prefixes and names; rejects ambiguous and unknown refs', async () => {
    const a = 'aa' + newId().slice(2);
    const b = 'ab' + newId().slice(2);
    await store.save(record(a, 'one'));
    await store.save(record(b, 'two'));
    await store.reserveName('one', a);
    expect(await store.resolve(a)).toBe(a);
    expect(await store.resolve('aa')).toBe(a);
    expect(await store.resolve('one')).toBe(a);
    await expect(store.resolve('a')).rejects.toThrow(/multiple containers/);
    await expect(store.resolve('zz')).rejects.toThrow(/no such container: zz/);
  });

  it('lets exactly one of many concurrent reservations of a name win', async () => {
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => store.reserveName('x', newId())));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason.message).toMatch(
      /already in use/,
    );
  });
});
