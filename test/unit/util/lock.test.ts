import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { withLock } from '../../../src/util/lock.js';

describe('withLock', () => {
  test('serialises concurrent critical sections, makes the lock dir on request and removes the lock file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tvctl-lock-'));
    const lock = join(dir, 'sub', 'l.lock');
    let inside = 0;
    let maxInside = 0;
    const section = async (): Promise<void> => {
      inside++;
      maxInside = Math.max(maxInside, inside);
      await new Promise((r) => setTimeout(r, 5));
      inside--;
    };
    await Promise.all(Array.from({ length: 10 }, () => withLock(lock, section, { createDir: true })));
    expect(maxInside).toBe(1);
    await expect(readFile(lock)).rejects.toThrow();
    await rm(dir, { recursive: true, force: true });
  });

  test('does not create the directory unless asked (a removed container stays removed)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tvctl-lock-'));
    await expect(withLock(join(dir, 'gone', 'lock'), async () => 'x')).rejects.toThrow(/ENOENT/);
    await rm(dir, { recursive: true, force: true });
  });

  test('takes over a lock left by a dead process', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tvctl-lock-'));
    const lock = join(dir, 'l.lock');
    await writeFile(lock, '999999999'); // no such pid
    expect(await withLock(lock, async () => 'ok', { timeoutMs: 2000 })).toBe('ok');
    await rm(dir, { recursive: true, force: true });
  });
});
