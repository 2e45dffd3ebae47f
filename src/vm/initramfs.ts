/**
 * The VM's root file system: an uncompressed cpio "newc" archive (what the kernel unpacks into its rootfs)
 * built by flattening an image's layer dirs bottom → top the way overlayfs would, plus the guest init.
 *
 * The cpio encoder is pure (`encodeCpioHeader`, `CpioWriter`); `flattenLayers` reads the layer dirs; the
 * cache (`ensureInitramfs`) builds one archive per image id + init binary and reuses it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { accessSync, createReadStream, promises as fsp, readFileSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { TvctlError } from '../errors.js';
import { runCommand } from '../util/exec.js';
import { GUEST_INIT_PATH, WORKLOAD_PATH } from './guest-protocol.js';

export const CPIO_TRAILER = 'TRAILER!!!';

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFIFO = 0o010000;
export const S_IFSOCK = 0o140000;

export interface CpioHeader {
  ino: number;
  /** file type bits | permission bits */
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
  fileSize: number;
  devMajor?: number;
  devMinor?: number;
  rdevMajor?: number;
  rdevMinor?: number;
  /** path without leading "/" ("." is the root) */
  name: string;
}

function hex8(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`cpio field out of range: ${n}`);
  return n.toString(16).padStart(8, '0');
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

/** One newc header plus the name and the padding that aligns the data that follows to 4 bytes. */
export function encodeCpioHeader(h: CpioHeader): Buffer {
  const name = Buffer.from(h.name + '\0', 'utf8');
  const fields = [
    h.ino,
    h.mode,
    h.uid,
    h.gid,
    h.nlink,
    h.mtime,
    h.fileSize,
    h.devMajor ?? 0,
    h.devMinor ?? 0,
    h.rdevMajor ?? 0,
    h.rdevMinor ?? 0,
    name.length,
    0,
  ];
  const head = Buffer.from('070701' + fields.map(hex8).join(''), 'ascii');
  return Buffer.concat([head, name, Buffer.alloc(pad4(head.length + name.length))]);
}

/** Accumulates an archive in memory-sized chunks and hands them to a sink (a file or a test buffer). */
export class CpioWriter {
  private nextIno = 1;
  private closed = false;
  constructor(private readonly sink: (chunk: Buffer) => Promise<void> | void) {}

  async add(
    h: Omit<CpioHeader, 'ino' | 'fileSize' | 'nlink'> & { ino?: number; nlink?: number },
    data?: Buffer | AsyncIterable<Buffer>,
    size = 0,
  ): Promise<void> {
    if (this.closed) throw new Error('cpio archive already finished');
    const fileSize = Buffer.isBuffer(data) ? data.length : data ? size : 0;
    const ino = h.ino ?? this.nextIno++;
    await this.sink(
      encodeCpioHeader({ ...h, ino, nlink: h.nlink ?? ((h.mode & S_IFMT) === S_IFDIR ? 2 : 1), fileSize }),
    );
    if (data === undefined) return;
    let written = 0;
    if (Buffer.isBuffer(data)) {
      await this.sink(data);
      written = data.length;
    } else {
      for await (const chunk of data) {
        await this.sink(chunk);
        written += chunk.length;
      }
    }
    if (written !== fileSize) throw new TvctlError('INITRAMFS_CHANGED', `${h.name} changed size while it was archived`);
    if (pad4(fileSize)) await this.sink(Buffer.alloc(pad4(fileSize)));
  }

  /** Reserves an inode number (for hard-link groups). */
  allocIno(): number {
    return this.nextIno++;
  }

  async finish(): Promise<void> {
    await this.add({ name: CPIO_TRAILER, mode: 0, uid: 0, gid: 0, mtime: 0, nlink: 1, ino: 0 });
    this.closed = true;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Layer flattening

export interface FlatEntry {
  /** path relative to the root, "" for the root itself */
  rel: string;
  /** the file on the host to take metadata / data / link target from */
  src: string;
  st: Stats;
}

/** The opaque dirs of one layer (relative paths; "" = the layer root). */
export type OpaqueScanner = (layerDir: string) => Promise<Set<string>>;

function isWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

function dropSubtree(tree: Map<string, FlatEntry>, rel: string, keepSelf: boolean): void {
  const prefix = rel === '' ? '' : rel + '/';
  for (const k of [...tree.keys()]) {
    if ((k === rel && !keepSelf) || (k !== rel && (prefix === '' ? k !== '' : k.startsWith(prefix)))) tree.delete(k);
  }
}

/**
 * Merges layer dirs (bottom first, whiteouts in overlayfs form: 0:0 char device = deleted, dir with
 * trusted.overlay.opaque=y = lower contents hidden) into one path → entry map, as overlayfs would show it.
 */
export async function flattenLayers(
  layerDirs: readonly string[],
  scanOpaque: OpaqueScanner,
): Promise<Map<string, FlatEntry>> {
  const tree = new Map<string, FlatEntry>();
  for (const layer of layerDirs) {
    const opaque = await scanOpaque(layer);
    const walk = async (rel: string): Promise<void> => {
      const dir = rel === '' ? layer : join(layer, rel);
      const names = (await fsp.readdir(dir)).sort();
      for (const name of names) {
        const childRel = rel === '' ? name : `${rel}/${name}`;
        const src = join(dir, name);
        const st = await fsp.lstat(src);
        const lower = tree.get(childRel);
        if (isWhiteout(st)) {
          if (lower) dropSubtree(tree, childRel, false);
          continue;
        }
        if (st.isDirectory()) {
          if (lower && !lower.st.isDirectory()) dropSubtree(tree, childRel, false);
          if (opaque.has(childRel)) dropSubtree(tree, childRel, true);
          tree.set(childRel, { rel: childRel, src, st });
          await walk(childRel);
        } else {
          if (lower?.st.isDirectory()) dropSubtree(tree, childRel, false);
          tree.set(childRel, { rel: childRel, src, st });
        }
      }
    };
    const rootSt = await fsp.lstat(layer);
    if (opaque.has('')) dropSubtree(tree, '', true);
    tree.set('', { rel: '', src: layer, st: rootSt });
    await walk('');
  }
  return tree;
}

/** Reads opaque markers with the static helper (Node has no xattr API). */
export function opaqueScannerFromHelper(helper: string): OpaqueScanner {
  return async (layerDir) => {
    const r = await runCommand({ file: helper, args: [layerDir] });
    return new Set(
      r.stdout
        .split('\0')
        .filter(Boolean)
        .map((p) => (p === '.' ? '' : p)),
    );
  };
}

/** Writes a flattened tree (parents before children, hard links grouped with data on the last link). */
export async function writeTree(w: CpioWriter, tree: Map<string, FlatEntry>): Promise<void> {
  const entries = [...tree.values()].sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  // Hard links within the flattened tree: same (dev, ino) and nlink > 1. The kernel and GNU cpio both
  // accept the body on the last member of a group.
  const groups = new Map<string, FlatEntry[]>();
  for (const e of entries) {
    if (e.st.isFile() && e.st.nlink > 1) {
      const k = `${e.st.dev}:${e.st.ino}`;
      const g = groups.get(k);
      if (g) g.push(e);
      else groups.set(k, [e]);
    }
  }
  const groupIno = new Map<string, number>();
  for (const e of entries) {
    const st = e.st;
    const base = {
      name: e.rel === '' ? '.' : e.rel,
      mode: (st.mode & S_IFMT) | (st.mode & 0o7777),
      uid: st.uid,
      gid: st.gid,
      mtime: Math.floor(st.mtimeMs / 1000),
    };
    if (st.isDirectory()) {
      await w.add(base);
    } else if (st.isSymbolicLink()) {
      const target = Buffer.from(await fsp.readlink(e.src, { encoding: 'buffer' }));
      await w.add(base, target);
    } else if (st.isFile()) {
      const k = `${st.dev}:${st.ino}`;
      const group = st.nlink > 1 ? groups.get(k) : undefined;
      if (group && group.length > 1) {
        let ino = groupIno.get(k);
        if (ino === undefined) groupIno.set(k, (ino = w.allocIno()));
        const last = group[group.length - 1] === e;
        const extra = { ino, nlink: group.length };
        if (last) await w.add({ ...base, ...extra }, createReadStream(e.src) as AsyncIterable<Buffer>, st.size);
        else await w.add({ ...base, ...extra });
      } else {
        await w.add(base, createReadStream(e.src) as AsyncIterable<Buffer>, st.size);
      }
    } else if (st.isCharacterDevice() || st.isBlockDevice()) {
      await w.add({ ...base, rdevMajor: major(st.rdev), rdevMinor: minor(st.rdev) });
    } else if (st.isFIFO()) {
      await w.add(base);
    }
    // sockets are not archived (they mean nothing without their process)
  }
}

/** Linux's dev_t encoding (glibc gnu_dev_major/minor). */
export function major(dev: number): number {
  const d = BigInt(dev);
  return Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn));
}
export function minor(dev: number): number {
  const d = BigInt(dev);
  return Number((d & 0xffn) | ((d >> 12n) & ~0xffn));
}

export interface BuildInitramfsOptions {
  layerDirs: readonly string[];
  /** the static guest init binary, stored at GUEST_INIT_PATH */
  guestInit: string;
  /** the static compare workload (a few KB), stored at WORKLOAD_PATH when given */
  workload?: string;
  out: string;
  scanOpaque: OpaqueScanner;
}

/** Builds the archive to `out` atomically (temp file + rename). */
export async function buildInitramfs(opts: BuildInitramfsOptions): Promise<{ bytes: number; entries: number }> {
  const tree = await flattenLayers(opts.layerDirs, opts.scanOpaque);
  const tmp = `${opts.out}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fh = await fsp.open(tmp, 'w', 0o600);
  let bytes = 0;
  const pending: Buffer[] = [];
  let pendingLen = 0;
  const flush = async (): Promise<void> => {
    if (!pendingLen) return;
    const buf = Buffer.concat(pending, pendingLen);
    pending.length = 0;
    pendingLen = 0;
    await fh.write(buf);
  };
  try {
    const w = new CpioWriter(async (chunk) => {
      bytes += chunk.length;
      pending.push(chunk);
      pendingLen += chunk.length;
      if (pendingLen >= 1 << 20) await flush();
    });
    // tvctl's own files replace any the image has at their paths (dropped before the tree is written)
    tree.delete(GUEST_INIT_PATH.slice(1));
    if (opts.workload) tree.delete(WORKLOAD_PATH.slice(1));
    await writeTree(w, tree);
    const init = await fsp.readFile(opts.guestInit);
    await w.add({ name: GUEST_INIT_PATH.slice(1), mode: S_IFREG | 0o755, uid: 0, gid: 0, mtime: 0 }, init);
    if (opts.workload) {
      const wl = await fsp.readFile(opts.workload);
      await w.add({ name: WORKLOAD_PATH.slice(1), mode: S_IFREG | 0o755, uid: 0, gid: 0, mtime: 0 }, wl);
    }
    await w.finish();
    await flush();
    await fh.close();
    await fsp.rename(tmp, opts.out);
  } catch (err) {
    await fh.close().catch(() => undefined);
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  return { bytes, entries: tree.size + (opts.workload ? 2 : 1) };
}

/** The guest init is a few hundred KB and hashed on every VM start: one synchronous read is cheapest. */
export async function sha256File(file: string): Promise<string> {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/**
 * The cached initramfs for an image: <dataRoot>/vm/initramfs/<image id hex>-<hash 12>.cpio (the hash of the
 * guest init and the workload), built on first use. Uncompressed: under TCG the guest's gunzip costs more than QEMU reading a few more MB.
 */
export async function ensureInitramfs(opts: {
  dataRoot: string;
  imageId: string;
  layerDirs: readonly string[];
  guestInit: string;
  workload?: string;
  scanOpaque: OpaqueScanner;
}): Promise<{ path: string; built: boolean }> {
  const dir = join(opts.dataRoot, 'vm', 'initramfs');
  const hash = createHash('sha256').update(readFileSync(opts.guestInit));
  if (opts.workload) hash.update(readFileSync(opts.workload));
  const initHash = hash.digest('hex').slice(0, 12);
  const id = opts.imageId.replace(/^sha256:/, '');
  const path = join(dir, `${id}-${initHash}.cpio`);
  try {
    accessSync(path);
    return { path, built: false };
  } catch {
    // build it
  }
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  await buildInitramfs({
    layerDirs: opts.layerDirs,
    guestInit: opts.guestInit,
    ...(opts.workload ? { workload: opts.workload } : {}),
    out: path,
    scanOpaque: opts.scanOpaque,
  });
  return { path, built: true };
}
