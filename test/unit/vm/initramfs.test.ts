import { execFileSync } from 'node:child_process';
import {
  mkdtempSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  linkSync,
  chmodSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CpioWriter,
  S_IFDIR,
  S_IFREG,
  S_IFLNK,
  buildInitramfs,
  encodeCpioHeader,
  flattenLayers,
  major,
  minor,
  writeTree,
} from '../../../src/vm/initramfs.js';

const noOpaque = async (): Promise<Set<string>> => new Set();

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'tvctl-initramfs-'));
});
afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
});

async function archive(build: (w: CpioWriter) => Promise<void>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const w = new CpioWriter((c) => void chunks.push(c));
  await build(w);
  await w.finish();
  return Buffer.concat(chunks);
}

/** Debian's GNU cpio lists and extracts what we write. */
function cpioList(buf: Buffer): string[] {
  return execFileSync('cpio', ['-t', '--quiet'], { input: buf }).toString().trim().split('\n');
}
function cpioExtract(buf: Buffer, dir: string): void {
  mkdirSync(dir, { recursive: true });
  execFileSync('cpio', ['-i', '-d', '--quiet', '--no-absolute-filenames', '-D', dir], { input: buf });
}

describe('cpio newc writer', () => {
  it('encodes the header fields as 8-hex-digit words and pads name and data to 4 bytes', () => {
    const h = encodeCpioHeader({
      ino: 1,
      mode: S_IFREG | 0o644,
      uid: 0,
      gid: 0,
      nlink: 1,
      mtime: 0,
      fileSize: 5,
      name: 'ab',
    });
    expect(h.subarray(0, 6).toString()).toBe('070701');
    expect(h.subarray(6, 14).toString()).toBe('00000001');
    expect(h.subarray(14, 22).toString()).toBe((S_IFREG | 0o644).toString(16).padStart(8, '0'));
    expect(h.subarray(54, 62).toString()).toBe('00000005'); // filesize
    expect(h.subarray(94, 102).toString()).toBe('00000003'); // namesize incl. NUL
    expect(h.length % 4).toBe(0);
    expect(h.length).toBe(116); // 110-byte header + "ab\0" = 113, padded to 116
  });

  it('writes an archive GNU cpio lists and extracts byte for byte', async () => {
    const buf = await archive(async (w) => {
      await w.add({ name: '.', mode: S_IFDIR | 0o755, uid: 0, gid: 0, mtime: 0 });
      await w.add({ name: 'etc', mode: S_IFDIR | 0o755, uid: 0, gid: 0, mtime: 0 });
      await w.add(
        { name: 'etc/hello', mode: S_IFREG | 0o640, uid: 0, gid: 0, mtime: 1_700_000_000 },
        Buffer.from('hello\n'),
      );
      await w.add({ name: 'etc/odd', mode: S_IFREG | 0o600, uid: 0, gid: 0, mtime: 0 }, Buffer.from('x'));
      await w.add({ name: 'link', mode: S_IFLNK | 0o777, uid: 0, gid: 0, mtime: 0 }, Buffer.from('etc/hello'));
    });
    expect(buf.length % 4).toBe(0);
    expect(cpioList(buf)).toEqual(['.', 'etc', 'etc/hello', 'etc/odd', 'link']);
    const out = join(tmp, 'x');
    cpioExtract(buf, out);
    expect(readFileSync(join(out, 'etc/hello'), 'utf8')).toBe('hello\n');
    expect(readFileSync(join(out, 'etc/odd'), 'utf8')).toBe('x');
    expect(statSync(join(out, 'etc/hello')).mode & 0o7777).toBe(0o640);
    expect(readlinkSync(join(out, 'link'))).toBe('etc/hello');
  });

  it('rejects a stream that does not match its declared size', async () => {
    const w = new CpioWriter(() => undefined);
    async function* two(): AsyncIterable<Buffer> {
      yield Buffer.from('ab');
    }
    await expect(w.add({ name: 'f', mode: S_IFREG | 0o644, uid: 0, gid: 0, mtime: 0 }, two(), 3)).rejects.toThrow(
      /changed size/,
    );
  });

  it('decodes Linux dev_t like glibc', () => {
    // makedev(259, 70000): minor bits split across the word
    const dev = Number(
      ((259n & 0xfffn) << 8n) | ((259n & ~0xfffn) << 32n) | (70000n & 0xffn) | ((70000n & ~0xffn) << 12n),
    );
    expect(major(dev)).toBe(259);
    expect(minor(dev)).toBe(70000);
  });
});

describe('layer flattening', () => {
  function layer(name: string, files: Record<string, string | { link: string } | null>): string {
    const root = join(tmp, name);
    mkdirSync(root, { recursive: true });
    for (const [p, v] of Object.entries(files)) {
      const full = join(root, p);
      if (v === null) {
        mkdirSync(full, { recursive: true });
        continue;
      }
      mkdirSync(join(full, '..'), { recursive: true });
      if (typeof v === 'string') writeFileSync(full, v);
      else symlinkSync(v.link, full);
    }
    return root;
  }

  it('lets upper layers replace files, dirs replace files, and opaque dirs hide lower contents', async () => {
    const l1 = layer('l1', { 'a/keep': '1', 'a/old': 'old', 'b/x': 'x', c: 'file', 'd/y': 'y' });
    const l2 = layer('l2', { 'a/old': 'new', 'c/z': 'z', 'd/only': 'upper', e: { link: 'a' } });
    const opaque = async (dir: string): Promise<Set<string>> => new Set(dir === l2 ? ['d'] : []);
    const tree = await flattenLayers([l1, l2], opaque);
    const keys = [...tree.keys()].sort();
    expect(keys).toEqual(['', 'a', 'a/keep', 'a/old', 'b', 'b/x', 'c', 'c/z', 'd', 'd/only', 'e']);
    expect(tree.get('a/old')!.src).toBe(join(l2, 'a/old'));
    expect(tree.get('c')!.st.isDirectory()).toBe(true);
  });

  it('a file replacing a directory drops the lower directory contents', async () => {
    const l1 = layer('l1', { 'dir/inner': 'i' });
    const l2 = layer('l2', { dir: 'now a file' });
    const tree = await flattenLayers([l1, l2], noOpaque);
    expect([...tree.keys()].sort()).toEqual(['', 'dir']);
  });

  it('archives hard links once, with the data on the last link, and GNU cpio restores them', async () => {
    const l1 = layer('l1', { 'bin/a': 'payload' });
    linkSync(join(l1, 'bin/a'), join(l1, 'bin/b'));
    chmodSync(join(l1, 'bin/a'), 0o755);
    const tree = await flattenLayers([l1], noOpaque);
    const chunks: Buffer[] = [];
    const w = new CpioWriter((c) => void chunks.push(c));
    await writeTree(w, tree);
    await w.finish();
    const buf = Buffer.concat(chunks);
    expect(buf.toString('latin1').split('payload').length - 1).toBe(1);
    const out = join(tmp, 'x');
    cpioExtract(buf, out);
    expect(readFileSync(join(out, 'bin/a'), 'utf8')).toBe('payload');
    expect(readFileSync(join(out, 'bin/b'), 'utf8')).toBe('payload');
    expect(statSync(join(out, 'bin/a')).ino).toBe(statSync(join(out, 'bin/b')).ino);
  });

  it('buildInitramfs adds the guest init and writes atomically', async () => {
    const l1 = layer('l1', { 'etc/hostname': 'demo\n' });
    const init = join(tmp, 'init-bin');
    writeFileSync(init, '#!init');
    const out = join(tmp, 'out.cpio');
    const r = await buildInitramfs({ layerDirs: [l1], guestInit: init, out, scanOpaque: noOpaque });
    expect(r.bytes).toBe(statSync(out).size);
    expect(cpioList(readFileSync(out))).toEqual(['.', 'etc', 'etc/hostname', '.tvctl-init']);
    await expect(
      buildInitramfs({
        layerDirs: [join(tmp, 'missing')],
        guestInit: init,
        out: join(tmp, 'o2.cpio'),
        scanOpaque: noOpaque,
      }),
    ).rejects.toThrow();
    expect(() => statSync(join(tmp, 'o2.cpio'))).toThrow();
  });

  it('buildInitramfs adds the compare workload when given, executable, replacing one the image has', async () => {
    const l1 = layer('l1', { '.tvctl-workload': 'from the image' });
    const init = join(tmp, 'init-bin');
    writeFileSync(init, '#!init');
    const wl = join(tmp, 'workload-bin');
    writeFileSync(wl, '#!workload');
    const out = join(tmp, 'out.cpio');
    const r = await buildInitramfs({ layerDirs: [l1], guestInit: init, workload: wl, out, scanOpaque: noOpaque });
    const names = cpioList(readFileSync(out));
    expect(names.filter((n) => n === '.tvctl-workload')).toHaveLength(1);
    expect(r.entries).toBe(names.length);
    const x = join(tmp, 'x');
    cpioExtract(readFileSync(out), x);
    expect(readFileSync(join(x, '.tvctl-workload'), 'utf8')).toBe('#!workload');
    expect(statSync(join(x, '.tvctl-workload')).mode & 0o111).toBe(0o111);
  });
});
