import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileSource } from '../../../src/images/file-source.js';
import { ByteReader, readTar } from '../../../src/images/tar-reader.js';
import { makeTar } from '../../fixtures/images/build.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tvctl-tar-reader-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('readTar over a FileSource (bodies skipped by seeking)', () => {
  it('lists every entry without reading the bodies it skips', async () => {
    const big = Buffer.alloc(3 << 20, 7); // spans several 1 MiB chunks
    const tar = makeTar([
      { path: 'a', data: big },
      { path: 'b', data: 'small' },
      { path: 'c', data: big },
    ]);
    const file = join(dir, 'x.tar');
    writeFileSync(file, tar);
    let seen = 0;
    let reads = 0;
    const src = new FileSource(file, 0, Infinity, (n) => (seen = n));
    const chunks = src[Symbol.asyncIterator].bind(src);
    src[Symbol.asyncIterator] = async function* () {
      for await (const c of chunks()) {
        reads++;
        yield c;
      }
    };
    const names: string[] = [];
    for await (const { entry } of readTar(new ByteReader(src))) names.push(entry.path);
    expect(names).toEqual(['a', 'b', 'c']);
    expect(reads).toBeLessThanOrEqual(4); // a header after each skip, not 6 MiB of bodies
    expect(seen).toBeGreaterThanOrEqual(tar.length - 1024); // progress covers skipped bytes too
  });

  it('still reports a truncated archive when the cut falls inside a skipped body', async () => {
    const tar = makeTar([
      { path: 'a', data: Buffer.alloc(3 << 20, 7) },
      { path: 'b', data: 'x' },
    ]);
    const file = join(dir, 'cut.tar');
    writeFileSync(file, tar.subarray(0, 2 << 20));
    const walk = async () => {
      for await (const _ of readTar(new ByteReader(new FileSource(file)))) void _;
    };
    await expect(walk()).rejects.toThrow(/truncated/);
  });
});
