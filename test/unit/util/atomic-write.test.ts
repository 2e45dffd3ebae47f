import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeFileAtomic, writeFileAtomicSync } from '../../../src/util/atomic-write.js';

let dir: string;
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('writeFileAtomic', () => {
  it('replaces the file with the given mode and leaves no temp file', async () => {
    dir = mkdtempSync(join(tmpdir(), 'atomic-'));
    const p = join(dir, 'state.json');
    await writeFileAtomic(p, 'one');
    writeFileAtomicSync(p, 'two', 0o644);
    expect(readFileSync(p, 'utf8')).toBe('two');
    expect(statSync(p).mode & 0o777).toBe(0o644);
    expect(readdirSync(dir)).toEqual(['state.json']);
  });

  it('a failed write leaves the old file and no temp file', async () => {
    dir = mkdtempSync(join(tmpdir(), 'atomic-'));
    const p = join(dir, 'state.json');
    await writeFileAtomic(p, 'old');
    // renaming a file over a non-empty directory fails after the temp file was written
    const target = join(dir, 'sub');
    mkdirSync(join(target, 'inner'), { recursive: true });
    await expect(writeFileAtomic(target, 'new')).rejects.toThrow();
    expect(readFileSync(p, 'utf8')).toBe('old');
    expect(readdirSync(dir).sort()).toEqual(['state.json', 'sub']);
  });
});
