import {
  closeSync,
  openSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  lstatSync,
  readdirSync,
  existsSync,
  statSync,
  mkdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it as itBase } from 'vitest';
import { sniffCompression } from '../../../src/images/compression.js';
import { untarHelper } from '../../../src/images/tvuntar.js';
import { cleanEntryPath } from '../../../src/images/unpack-js.js';
import { unpackLayer } from '../../../src/images/unpack.js';
import { rebuildLayerTar, rebuiltSize } from '../../../src/images/tar-split.js';
import { makeTar, sha256, zstd, type FixtureEntry } from '../../fixtures/images/build.js';

let base: string;
let dest: string;
let outside: string;
beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'tvctl-unpack-'));
  dest = join(base, 'layer');
  outside = join(base, 'outside');
  mkdirSync(dest);
  mkdirSync(outside);
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

/**
 * Each call starts from an empty layer dir, as the store does. With `inPlace`, an uncompressed layer is
 * given as a region of a file (as inside an archive), which the native extractor maps and reads itself.
 */
let inPlace = false;
const unpack = async (tar: Buffer) => {
  rmSync(dest, { recursive: true, force: true });
  mkdirSync(dest);
  if (!inPlace || sniffCompression(tar) !== 'none') return unpackLayer([tar], dest, base);
  const dir = mkdtempSync(join(tmpdir(), 'tvctl-unpack-src-'));
  try {
    writeFileSync(join(dir, 'archive'), Buffer.concat([Buffer.alloc(1536, 0x41), tar]));
    return await unpackLayer({ file: join(dir, 'archive'), offset: 1536, length: tar.length }, dest, base);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};
/** Everything under base except the layer dir must stay exactly as it was. */
const outsideUntouched = () => {
  expect(readdirSync(outside)).toEqual([]);
  expect(readdirSync(base).sort()).toEqual(['layer', 'outside']);
};

describe('cleanEntryPath', () => {
  itBase('resolves lexically and keeps absolute paths inside the root', () => {
    expect(cleanEntryPath('./a/b/../c')).toEqual(['a', 'c']);
    expect(cleanEntryPath('/etc/passwd')).toEqual(['etc', 'passwd']);
    expect(cleanEntryPath('./')).toEqual([]);
  });
  itBase('refuses to climb above the root and overlong names', () => {
    expect(() => cleanEntryPath('../x')).toThrow(/outside the layer/);
    expect(() => cleanEntryPath('a/../../x')).toThrow(/outside the layer/);
    expect(() => cleanEntryPath('a/' + 'n'.repeat(256))).toThrow(/name too long/);
  });
});

describe('sniffCompression', () => {
  itBase('reads magic bytes, not names', () => {
    expect(sniffCompression(gzipSync(Buffer.from('x')))).toBe('gzip');
    expect(sniffCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0]))).toBe('zstd');
    expect(sniffCompression(makeTar([{ path: 'a', data: 'x' }]))).toBe('none');
  });
});

// Both unpackers follow the same rules: the native extractor (native/untar, when built) and the JS one.
// A skipped native run says why in its title (vitest lists skipped suites by title).
const nativeBuilt = untarHelper() !== undefined;
const nativeMissing = nativeBuilt ? '' : ' [skipped: native/out/tvuntar is not built; run make -C native]';
// The native one also reads uncompressed layers in place (mapped under a lease), so its rules run again there.
const impls = [
  { impl: 'native', env: undefined, skip: !nativeBuilt, mapped: false, why: nativeMissing },
  { impl: 'native', env: undefined, skip: !nativeBuilt, mapped: true, why: nativeMissing },
  { impl: 'js', env: 'js', skip: false, mapped: false, why: '' },
];
describe.each(impls)('unpackLayer ($impl, layer in a file: $mapped)$why', ({ impl, env, skip, mapped }) => {
  const saved = process.env.TVCTL_UNTAR;
  beforeAll(() => {
    inPlace = mapped;
    if (env === undefined) delete process.env.TVCTL_UNTAR;
    else process.env.TVCTL_UNTAR = env;
  });
  afterAll(() => {
    inPlace = false;
    if (saved === undefined) delete process.env.TVCTL_UNTAR;
    else process.env.TVCTL_UNTAR = saved;
  });
  const it = itBase.skipIf(skip);
  const basic: FixtureEntry[] = [
    { path: './', type: 'Directory', mode: 0o755 },
    { path: 'etc/', type: 'Directory', mode: 0o750 },
    { path: 'etc/hostname', data: 'box\n', mode: 0o640 },
    { path: 'bin/sh', data: '#!fake', mode: 0o755 },
    { path: 'bin/ash', type: 'Link', linkpath: 'bin/sh' },
    { path: 'lib', type: 'SymbolicLink', linkpath: '/usr/lib' },
    { path: 'usr/bin/passwd', data: 'suid', mode: 0o4755 },
  ];

  it('unpacks files, dirs, links, modes (setuid kept) and reports the diff ID of the uncompressed stream', async () => {
    const tar = makeTar(basic);
    const r = await unpack(tar);
    expect(r.diffId).toBe(sha256(tar));
    expect(readFileSync(join(dest, 'etc/hostname'), 'utf8')).toBe('box\n');
    expect(statSync(join(dest, 'etc/hostname')).mode & 0o7777).toBe(0o640);
    expect(statSync(join(dest, 'etc')).mode & 0o7777).toBe(0o750);
    expect(statSync(join(dest, 'usr/bin/passwd')).mode & 0o7777).toBe(0o4755);
    expect(statSync(join(dest, 'bin/ash')).ino).toBe(statSync(join(dest, 'bin/sh')).ino);
    expect(readlinkSync(join(dest, 'lib'))).toBe('/usr/lib');
    expect(statSync(join(dest, 'etc/hostname')).mtimeMs).toBe(1_700_000_000_000);
    outsideUntouched();
  });

  it('gives the same result and diff ID for gzip and zstd layers', async () => {
    const tar = makeTar(basic);
    expect((await unpack(gzipSync(tar))).diffId).toBe(sha256(tar));
    expect((await unpack(zstd(tar))).diffId).toBe(sha256(tar));
    expect(readFileSync(join(dest, 'bin/sh'), 'utf8')).toBe('#!fake');
  });

  it('keeps every byte when headers, big pax records and bodies straddle the ends of the input buffer', async () => {
    // ~30 MB in odd sizes: several turns of the native extractor's 8 MiB ring, each at another offset
    const entries: FixtureEntry[] = [];
    const bodies = new Map<string, Buffer>();
    for (let i = 0; i < 40; i++) {
      const data = randomBytes(((i * 7919) % 997) * 1031 + i);
      bodies.set(`f${i}`, data);
      entries.push({ path: `f${i}`, data, pax: { comment: 'c'.repeat(((i * 104729) % 600) * 1000 + 13) } });
    }
    const tar = makeTar(entries);
    const r = await unpack(tar);
    expect(r.diffId).toBe(sha256(tar));
    expect(r.tarSize).toBe(tar.length);
    for (const [name, data] of bodies) expect(readFileSync(join(dest, name)).equals(data), name).toBe(true);
  });

  it('reports a bad entry of a compressed layer as such, not as the decompressor cut off behind it', async () => {
    // plenty of data after the bad entry: the decompressor is still writing when the unpacker stops
    const tar = makeTar([
      { path: '../evil', data: 'x' },
      { path: 'big', data: randomBytes(8 << 20) },
    ]);
    await expect(unpack(zstd(tar))).rejects.toThrow(/outside the layer/);
    await expect(unpack(gzipSync(tar))).rejects.toThrow(/outside the layer/);
    outsideUntouched();
  });

  it('refuses metadata that would pile up in memory: many pax records, data after the end', async () => {
    // 20 pax records of ~0.9 MB before one entry (each under the 1 MiB record limit, 18 MB together)
    const one = makeTar([{ path: 'a', data: 'x', pax: { comment: 'c'.repeat(900_000) } }], { end: false });
    const paxRecord = one.subarray(0, 512 + Math.ceil((one.length - 1536) / 512) * 512);
    const piled = Buffer.concat([...Array.from({ length: 20 }, () => paxRecord), makeTar([{ path: 'a', data: 'x' }])]);
    await expect(unpack(zstd(piled))).rejects.toThrow(/more than 16 MiB of tar metadata records/);
    // 17 MiB after the end-of-archive blocks (a few KB of zstd)
    const tail = Buffer.concat([makeTar([{ path: 'a', data: 'x' }]), Buffer.alloc(17 << 20)]);
    await expect(unpack(zstd(tail))).rejects.toThrow(/more than 16 MiB of data after the end of the archive/);
    // a little padding after the end is normal and kept
    const padded = Buffer.concat([makeTar([{ path: 'a', data: 'x' }]), Buffer.alloc(9216)]);
    expect((await unpack(padded)).tarSize).toBe(padded.length);
    outsideUntouched();
  });

  it('says which compressed stream is corrupt or cut short', async () => {
    const tar = makeTar([...basic, { path: 'big', data: randomBytes(300_000) }]);
    const z = zstd(tar);
    const bad = Buffer.from(z);
    bad.fill(0x55, 100, 200);
    // the JS unpacker may see the garbage as a bad tar before zstd's exit status is in
    await expect(unpack(bad)).rejects.toThrow(impl === 'native' ? /zstd data is corrupt/ : /zstd|not a valid tar/);
    await expect(unpack(z.subarray(0, z.length - 50))).rejects.toThrow(/zstd data is corrupt|truncated/);
    const g = gzipSync(tar);
    await expect(unpack(g.subarray(0, g.length - 50))).rejects.toThrow(/gzip data is corrupt|truncated/);
    outsideUntouched();
  });

  it('keeps absolute entries inside the layer', async () => {
    await unpack(
      makeTar([
        { path: `${outside}/abs`, data: 'x' },
        { path: '/etc/x', data: 'y' },
      ]),
    );
    expect(readFileSync(join(dest, outside.slice(1), 'abs'), 'utf8')).toBe('x');
    expect(readFileSync(join(dest, 'etc/x'), 'utf8')).toBe('y');
    outsideUntouched();
  });

  it('fails on .. escapes without writing outside', async () => {
    await expect(
      unpack(
        makeTar([
          { path: 'ok', data: '1' },
          { path: '../outside/evil', data: 'x' },
        ]),
      ),
    ).rejects.toThrow(/points outside the layer/);
    outsideUntouched();
  });

  it('refuses to write through a symlink that points outside', async () => {
    const tar = makeTar([
      { path: 'lnk', type: 'SymbolicLink', linkpath: outside },
      { path: 'lnk/pwned', data: 'x' },
    ]);
    await expect(unpack(tar)).rejects.toThrow(/through the symbolic link "lnk"/);
    outsideUntouched();
  });

  it('refuses a relative symlink escape too (../../outside)', async () => {
    const tar = makeTar([
      { path: 'a/b', type: 'SymbolicLink', linkpath: '../../outside' },
      { path: 'a/b/c', type: 'Directory' },
    ]);
    await expect(unpack(tar)).rejects.toThrow(/symbolic link "a\/b"/);
    outsideUntouched();
  });

  it('replaces a symlink by a later file entry instead of following it', async () => {
    await unpack(
      makeTar([
        { path: 'f', type: 'SymbolicLink', linkpath: join(outside, 'target') },
        { path: 'f', data: 'mine' },
      ]),
    );
    expect(lstatSync(join(dest, 'f')).isFile()).toBe(true);
    outsideUntouched();
  });

  it('refuses hard links to anything outside the layer or not earlier in it', async () => {
    await expect(unpack(makeTar([{ path: 'h', type: 'Link', linkpath: '../outside/x' }]))).rejects.toThrow(
      /outside the layer/,
    );
    await expect(unpack(makeTar([{ path: 'h', type: 'Link', linkpath: '/etc/passwd' }]))).rejects.toThrow(
      /not a file earlier in this layer/,
    );
    await expect(
      unpack(
        makeTar([
          { path: 's', type: 'SymbolicLink', linkpath: '/etc' },
          { path: 'h', type: 'Link', linkpath: 's/passwd' },
        ]),
      ),
    ).rejects.toThrow(/not a file earlier in this layer/);
    expect(existsSync(join(dest, 'h'))).toBe(false);
    outsideUntouched();
  });

  it('lets a later duplicate win (file over dir, dir over file, file over file)', async () => {
    await unpack(
      makeTar([
        { path: 'x', data: 'one' },
        { path: 'x', data: 'two' },
        { path: 'd/sub', data: 's' },
        { path: 'd', data: 'now a file' },
        { path: 'e', data: 'file' },
        { path: 'e/', type: 'Directory' },
        { path: 'e/in', data: 'in' },
      ]),
    );
    expect(readFileSync(join(dest, 'x'), 'utf8')).toBe('two');
    expect(readFileSync(join(dest, 'd'), 'utf8')).toBe('now a file');
    expect(readFileSync(join(dest, 'e/in'), 'utf8')).toBe('in');
  });

  it('fails cleanly on very long names, truncated and corrupt archives', async () => {
    await expect(unpack(makeTar([{ path: 'a/' + 'x'.repeat(300), data: '1' }]))).rejects.toThrow(/name too long/);
    const deep = Array.from({ length: 40 }, () => 'y'.repeat(120)).join('/');
    await expect(unpack(makeTar([{ path: deep, data: '1' }]))).rejects.toThrow(/path too long/);
    const full = makeTar([{ path: 'big', data: Buffer.alloc(5000, 1) }]);
    await expect(unpack(full.subarray(0, 2000))).rejects.toThrow(/truncated/);
    const bad = Buffer.from(full);
    bad[10] = bad[10]! ^ 0xff;
    await expect(unpack(bad)).rejects.toThrow(/not a valid tar archive|checksum/);
    await expect(unpack(gzipSync(full).subarray(0, 100))).rejects.toThrow(/gzip|truncated/);
  });

  it('rejects whiteouts that aim outside their directory', async () => {
    await expect(unpack(makeTar([{ path: 'etc/.wh...', data: '' }]))).rejects.toThrow(/whiteout/);
    outsideUntouched();
  });
  it('unpacks a layer that is a region of a file (as inside an archive) and hashes exactly that region', async () => {
    const big = randomBytes(3 << 20); // bigger than the extractor's read-ahead: takes its splice path
    const tar = makeTar([...basic, { path: 'usr/big', data: big }, { path: 'usr/after', data: 'after' }]);
    const file = join(base, 'archive.bin');
    const junk = Buffer.alloc(1536, 0x41); // bytes before and after the layer must not count
    writeFileSync(file, Buffer.concat([junk, tar, junk]));
    rmSync(dest, { recursive: true, force: true });
    mkdirSync(dest);
    const r = await unpackLayer({ file, offset: junk.length, length: tar.length }, dest, base);
    expect(r.diffId).toBe(sha256(tar));
    expect(r.tarSize).toBe(tar.length);
    expect(readFileSync(join(dest, 'etc/hostname'), 'utf8')).toBe('box\n');
    expect(readFileSync(join(dest, 'usr/big')).equals(big)).toBe(true);
    expect(readFileSync(join(dest, 'usr/after'), 'utf8')).toBe('after');
    rmSync(file);
    outsideUntouched();
  });

  it('fails on a file region that ends before the layer does', async () => {
    const tar = makeTar([{ path: 'big', data: Buffer.alloc(5000, 1) }]);
    const file = join(base, 'short.bin');
    writeFileSync(file, tar.subarray(0, 3000));
    rmSync(dest, { recursive: true, force: true });
    mkdirSync(dest);
    await expect(unpackLayer({ file, offset: 0, length: tar.length }, dest, base)).rejects.toThrow(/truncated/);
    rmSync(file);
    outsideUntouched();
  });

  it('rebuilds the exact layer tar from the unpacked dir, including replaced duplicates and pax records', async () => {
    const layerDir = join(base, 'L');
    mkdirSync(join(layerDir, 'fs'), { recursive: true });
    const tar = makeTar([
      { path: 'a', data: 'first version' },
      { path: 'd/x', data: Buffer.alloc(70_000, 7) },
      { path: 'a', data: 'second' }, // replaces the first: its content must survive for the rebuild
      { path: 'd', data: 'dir became a file' }, // removes d/x
      { path: 'h', type: 'Link', linkpath: 'a' },
      { path: 'l', type: 'SymbolicLink', linkpath: '/nowhere' },
      { path: 'p/' + 'q'.repeat(150), data: 'long name via pax', pax: { 'SCHILY.xattr.user.k': 'v' } },
    ]);
    const r = await unpackLayer([tar], join(layerDir, 'fs'), base, { splitDir: layerDir });
    expect(r.tarSize).toBe(tar.length);
    expect(rebuiltSize(layerDir)).toBe(tar.length);
    expect(Buffer.concat([...rebuildLayerTar(layerDir, r.diffId)])).toEqual(tar);
    // and a modified layer dir is detected, not silently saved
    writeFileSync(join(layerDir, 'fs', 'a'), 'SECOND');
    expect(() => Buffer.concat([...rebuildLayerTar(layerDir, r.diffId)])).toThrow(/does not match its diff ID/);
  });
});

// The native extractor reads a layer that lies in a file by itself: under a read lease, mapped and hashed
// on a second thread; without a lease, read and hashed in line. Both must give the same result, and a
// writer that turns up during the load must stop it.
describe.skipIf(!nativeBuilt)(`native extractor, a layer in a file${nativeMissing}`, () => {
  const layerIn = (tar: Buffer) => {
    const file = join(base, 'archive.bin');
    writeFileSync(file, Buffer.concat([Buffer.alloc(700, 1), tar, Buffer.alloc(3000, 2)])); // not part of it
    return { file, offset: 700, length: tar.length };
  };

  itBase(
    'gives the same files and digest when the file is open for writing (no lease: read like a stream)',
    async () => {
      const big = randomBytes(5 << 20);
      const tar = makeTar([
        { path: 'a', data: 'x' },
        { path: 'big', data: big },
        { path: 'z', data: 'z' },
      ]);
      const region = layerIn(tar);
      const writer = openSync(region.file, 'r+');
      try {
        const r = await unpackLayer(region, dest, base);
        expect(r.diffId).toBe(sha256(tar));
        expect(readFileSync(join(dest, 'big')).equals(big)).toBe(true);
        expect(readFileSync(join(dest, 'z'), 'utf8')).toBe('z');
      } finally {
        closeSync(writer);
      }
    },
  );

  itBase('stops with a clear error when the file is opened for writing during the load', async () => {
    // Many empty files, so the extraction lasts long enough to be caught holding its lease.
    const tar = makeTar(Array.from({ length: 20_000 }, (_, i) => ({ path: `d${i % 50}/f${i}` })));
    const region = layerIn(tar);
    const ino = statSync(region.file).ino;
    const load = unpackLayer(region, dest, base);
    const outcome = load.then(
      () => 'loaded',
      (e: Error) => e.message,
    );
    // The lease shows in /proc/locks with its state, the holder's pid and the file's inode. Freeze the
    // holder there, start a writer, wait until its open() is breaking the lease, then let the holder go on.
    const lease = () =>
      readFileSync('/proc/locks', 'utf8')
        .split('\n')
        .map((l) => /^\d+: LEASE\s+(\S+)\s+\S+\s+(\d+)\s+\S+:(\d+)\s/.exec(l))
        .find((m) => m && Number(m[3]) === ino);
    let pid = 0;
    while (!pid) {
      const m = lease();
      if (m) pid = Number(m[2]);
      else if ((await Promise.race([outcome, new Promise((r) => setImmediate(r, 'wait'))])) !== 'wait')
        throw new Error('the load ended before its lease was seen');
    }
    process.kill(pid, 'SIGSTOP');
    const writer = spawn('sh', ['-c', 'exec 3>>"$0"', region.file], { stdio: 'ignore' });
    const opened = new Promise((r) => writer.on('exit', r));
    while (lease()?.[1] !== 'BREAKING') await new Promise((r) => setTimeout(r, 5));
    process.kill(pid, 'SIGCONT');
    expect(await outcome).toMatch(/opened for writing while it was being loaded/);
    expect(await opened).toBe(0);
  });
});
