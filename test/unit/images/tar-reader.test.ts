import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Header } from 'tar';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileSource } from '../../../src/images/file-source.js';
import { ByteReader } from '../../../src/images/byte-reader.js';
import { decodeHeader, readTar } from '../../../src/images/tar-reader.js';
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

describe('decodeHeader', () => {
  it('decodes blocks as npm tar does (ustar prefix, devices, trailing-slash dirs, base-256, checksum)', () => {
    const fields = [
      { path: 'a/b/c.txt', type: 'File', size: 12345, mode: 0o4755, uid: 1000, gid: 50 },
      { path: 'p/'.repeat(60) + 'leaf', type: 'File', size: 1, mode: 0o644, uid: 0, gid: 0 },
      { path: 'dev/null', type: 'CharacterDevice', size: 0, mode: 0o666, uid: 0, gid: 0, devmaj: 1, devmin: 3 },
      { path: 'dir/', type: 'Directory', size: 0, mode: 0o755, uid: 0, gid: 0 },
      { path: 'l', type: 'SymbolicLink', linkpath: '/target/x', size: 0, mode: 0o777, uid: 0, gid: 0 },
      { path: 'huge', type: 'File', size: 0o100000000000 + 5, mode: 0o600, uid: 0o10000000, gid: 0 },
    ];
    for (const f of fields) {
      const b = Buffer.alloc(512);
      new Header({ mtime: new Date(1_700_000_000_000), ...f } as never).encode(b, 0);
      const ours = decodeHeader(b);
      const theirs = new Header(b);
      expect(ours).toMatchObject({
        cksumValid: true,
        type: theirs.type,
        path: theirs.path,
        linkpath: theirs.linkpath,
        mode: theirs.mode,
        uid: theirs.uid,
        gid: theirs.gid,
        size: theirs.size,
        devmaj: theirs.devmaj,
        devmin: theirs.devmin,
      });
      expect(ours.mtime?.getTime()).toBe(theirs.mtime?.getTime());
    }
    // an old-style directory: a file entry whose name ends in /
    const old = Buffer.alloc(512);
    new Header({ path: 'olddir/', type: 'File', size: 0, mode: 0o755, mtime: new Date(0) } as never).encode(old, 0);
    expect(decodeHeader(old).type).toBe('Directory');
    const bad = Buffer.from(old);
    bad[0] = bad[0]! ^ 1;
    expect(decodeHeader(bad).cksumValid).toBe(false);
  });
});
