import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { withLock } from '../../../src/images/lock.js';

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'tvctl-lock-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('withLock', () => {
  it('serializes critical sections', async () => {
    const lock = join(dir, 'lock');
    const order: string[] = [];
    const section = (n: string) =>
      withLock(lock, async () => {
        order.push(`${n}+`);
        await new Promise((r) => setTimeout(r, 30));
        order.push(`${n}-`);
      });
    await Promise.all([section('a'), section('b'), section('c')]);
    for (let i = 0; i < order.length; i += 2) expect(order[i]!.slice(0, 1)).toBe(order[i + 1]!.slice(0, 1));
    expect(existsSync(lock)).toBe(false);
  });

  it('takes over a lock left by a dead process, but waits for a live one', async () => {
    const lock = join(dir, 'lock');
    writeFileSync(lock, '999999999\n'); // no such pid
    expect(await withLock(lock, async () => 'got it')).toBe('got it');
    writeFileSync(lock, '1\n'); // init is alive
    await expect(withLock(lock, async () => 'no', 200)).rejects.toThrow(/locked by pid 1/);
    expect(existsSync(lock)).toBe(true);
  });
});
