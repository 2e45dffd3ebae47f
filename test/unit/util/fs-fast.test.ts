import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createExclusive, removeTreeFast } from '../../../src/util/fs-fast.js';

describe('fs-fast', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tvctl-fsfast-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const tree = (root: string, files: number): void => {
    mkdirSync(join(root, 'a', 'b', 'c'), { recursive: true });
    mkdirSync(join(root, 'empty'));
    for (let i = 0; i < files; i++) writeFileSync(join(root, i % 2 ? 'a/b' : 'a/b/c', `f${i}`), String(i));
  };

  it('removeTreeFast removes a small tree (files, nested and empty dirs) and the dir itself', async () => {
    const t = join(dir, 'small');
    tree(t, 10);
    await removeTreeFast(t);
    expect(existsSync(t)).toBe(false);
  });

  it('removeTreeFast hands a tree bigger than its budget to rm -rf, with the same result', async () => {
    const t = join(dir, 'big');
    tree(t, 200);
    await removeTreeFast(t, 16);
    expect(existsSync(t)).toBe(false);
  });

  it('removeTreeFast of a missing dir is a no-op; a file in the way of a dir is still an error', async () => {
    await expect(removeTreeFast(join(dir, 'missing'))).resolves.toBeUndefined();
    writeFileSync(join(dir, 'file'), 'x');
    await expect(removeTreeFast(join(dir, 'file'))).rejects.toThrow(/ENOTDIR/);
  });

  it('createExclusive writes once and fails with EEXIST the second time, keeping the first content', async () => {
    const f = join(dir, 'lock');
    await createExclusive(f, 'one', 0o600);
    await expect(createExclusive(f, 'two', 0o600)).rejects.toMatchObject({ code: 'EEXIST' });
    expect(readFileSync(f, 'utf8')).toBe('one');
  });
});
