/**
 * The bochs engine's boot CD: built once per (kernel, initramfs, boot loader) with xorriso and cached under
 * <data root>/vm/bochs-iso; each run gets its own copy with its command line written into the isolinux.cfg
 * slot (see isolinuxSlot in bochs.ts). The cache key uses each file's path, size and mtime — not its inode,
 * so the same files seen through another mount still hit.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants, promises as fsp, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';
import { runCommand } from '../util/exec.js';
import { TvctlError } from '../errors.js';
import { buildIsolinuxCfg, buildXorrisoArgv, ISOLINUX_CFG_HEAD, type BochsInstall } from './bochs.js';

/** Bump when the CD's layout or the slot's format changes: older CDs then no longer match. */
const ISO_LAYOUT_VERSION = 'tvctl-bochs-iso-1';
/** CDs kept (each is kernel + initramfs big); the least recently used go first. */
export const ISO_CACHE_KEEP = 4;

export interface CachedIso {
  path: string;
  /** byte offset of isolinux.cfg's slot inside the CD */
  slotOffset: number;
  /** the slot's bytes as built (holds a random token, so the check below cannot match anything else) */
  placeholder: Buffer;
  built: boolean;
}

export function isoCacheDir(dataRoot: string): string {
  return join(dataRoot, 'vm', 'bochs-iso');
}

function identity(file: string, what: string): string {
  try {
    const st = statSync(file);
    return `${resolve(file)}:${st.size}:${Math.floor(st.mtimeMs)}`;
  } catch (err) {
    throw new TvctlError('VM_FILE', `${what} ${file}: ${(err as Error).message}`);
  }
}

/** Pure but for stat: the cache key of the CD for these files. */
export function isoCacheKey(kernel: string, initrd: string, install: Pick<BochsInstall, 'isolinuxBin' | 'ldlinux'>) {
  return createHash('sha256')
    .update(
      [
        ISO_LAYOUT_VERSION,
        identity(kernel, 'kernel'),
        identity(initrd, 'initramfs'),
        identity(install.isolinuxBin, 'isolinux'),
        identity(install.ldlinux, 'isolinux'),
      ].join('\n'),
    )
    .digest('hex')
    .slice(0, 24);
}

/** The placeholder command line: a random token, so its slot is found (and checked) in the CD unambiguously. */
export function placeholderCmdline(token: string): string {
  return `tvctl-slot-${token}`;
}

interface Sidecar {
  /** the CD's file name in the cache directory: each build writes its own, the sidecar names the current one */
  iso: string;
  slotOffset: number;
  token: string;
}

/** The slot's offset: where the placeholder's bytes are, once; undefined if absent or ambiguous. */
export function findSlot(iso: Buffer, placeholder: Buffer): number | undefined {
  const at = iso.indexOf(placeholder);
  if (at < 0 || iso.indexOf(placeholder, at + 1) >= 0) return undefined;
  return at;
}

function slotOf(token: string): Buffer {
  return buildIsolinuxCfg(placeholderCmdline(token)).subarray(ISOLINUX_CFG_HEAD.length);
}

async function readCached(dir: string, sidecar: string): Promise<CachedIso | undefined> {
  let meta: Sidecar;
  try {
    meta = JSON.parse(await fsp.readFile(sidecar, 'utf8')) as Sidecar;
  } catch {
    return undefined;
  }
  if (typeof meta.iso !== 'string' || meta.iso.includes('/') || typeof meta.token !== 'string') return undefined;
  const iso = join(dir, meta.iso);
  const placeholder = slotOf(meta.token);
  let fh;
  try {
    fh = await fsp.open(iso, 'r');
  } catch {
    return undefined;
  }
  try {
    const b = Buffer.alloc(placeholder.length);
    const { bytesRead } = await fh.read(b, 0, b.length, meta.slotOffset);
    if (bytesRead !== b.length || !b.equals(placeholder)) return undefined;
  } finally {
    await fh.close();
  }
  const now = new Date();
  await fsp.utimes(sidecar, now, now).catch(() => undefined);
  return { path: iso, slotOffset: meta.slotOffset, placeholder, built: false };
}

/** The cached CD for this kernel and initramfs, built when missing. */
export async function ensureBochsIso(o: {
  dataRoot: string;
  kernel: string;
  initrd: string;
  install: BochsInstall;
}): Promise<CachedIso> {
  const dir = isoCacheDir(o.dataRoot);
  const key = isoCacheKey(o.kernel, o.initrd, o.install);
  const sidecar = join(dir, `${key}.json`);
  const cached = await readCached(dir, sidecar);
  if (cached) return cached;

  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const token = randomBytes(16).toString('hex');
  // Each build writes a CD of its own; the sidecar, replaced atomically, names the one to use. Two first
  // runs building at once both get a consistent CD (the later sidecar wins, the other CD is pruned).
  const name = `${key}-${token.slice(0, 12)}.iso`;
  const iso = join(dir, name);
  const cfgFile = join(dir, `.${name}.cfg`);
  const cfg = buildIsolinuxCfg(placeholderCmdline(token));
  const placeholder = slotOf(token);
  let slotOffset: number | undefined;
  try {
    await fsp.writeFile(cfgFile, cfg, { mode: 0o644 });
    const argv = buildXorrisoArgv(o.install.xorriso, iso, {
      isolinuxBin: o.install.isolinuxBin,
      ldlinux: o.install.ldlinux,
      isolinuxCfg: cfgFile,
      kernel: o.kernel,
      initrd: o.initrd,
    });
    await runCommand(argv);
    slotOffset = findSlot(await fsp.readFile(iso), placeholder);
    if (slotOffset === undefined)
      throw new TvctlError('VM_FILE', `xorriso built ${iso} without one contiguous isolinux.cfg`);
    await fsp.chmod(iso, 0o644);
    await writeFileAtomic(sidecar, JSON.stringify({ iso: name, slotOffset, token } satisfies Sidecar) + '\n', 0o644);
  } catch (err) {
    await fsp.rm(iso, { force: true });
    throw err;
  } finally {
    await fsp.rm(cfgFile, { force: true });
  }
  await pruneIsoCache(dir, ISO_CACHE_KEEP);
  return { path: iso, slotOffset, placeholder, built: true };
}

/** A CD no sidecar names is unused once this old (a run copies its CD within a second of reading the sidecar). */
const ORPHAN_GRACE_MS = 10 * 60_000;

/**
 * Keeps the `keep` most recently used CDs (a use touches the sidecar), and drops CDs no sidecar names
 * any more (a build that lost a race, or an older build of the same files).
 */
export async function pruneIsoCache(dir: string, keep: number, now = Date.now()): Promise<void> {
  const entries = await fsp.readdir(dir);
  const sidecars: { name: string; mtime: number; iso?: string }[] = [];
  for (const name of entries.filter((n) => n.endsWith('.json') && !n.startsWith('.'))) {
    try {
      const st = await fsp.stat(join(dir, name));
      const meta = JSON.parse(await fsp.readFile(join(dir, name), 'utf8')) as Partial<Sidecar>;
      sidecars.push({ name, mtime: st.mtimeMs, ...(typeof meta.iso === 'string' ? { iso: meta.iso } : {}) });
    } catch {
      // removed or being replaced meanwhile
    }
  }
  sidecars.sort((a, b) => b.mtime - a.mtime);
  for (const s of sidecars.slice(keep)) await fsp.rm(join(dir, s.name), { force: true });
  const named = new Set(sidecars.slice(0, keep).flatMap((s) => (s.iso ? [s.iso] : [])));
  for (const name of entries.filter((n) => n.endsWith('.iso') && !named.has(n))) {
    try {
      const st = await fsp.stat(join(dir, name));
      const evicted = sidecars.slice(keep).some((s) => s.iso === name);
      if (evicted || now - st.mtimeMs > ORPHAN_GRACE_MS) await fsp.rm(join(dir, name), { force: true });
    } catch {
      // removed meanwhile
    }
  }
}

/** This run's CD: a copy of the cached one (a reflink where the file system has them) with `cmdline` in its slot. */
export async function writeRunIso(cached: CachedIso, cmdline: string, out: string): Promise<void> {
  const slot = buildIsolinuxCfg(cmdline).subarray(ISOLINUX_CFG_HEAD.length);
  await fsp.copyFile(cached.path, out, constants.COPYFILE_FICLONE);
  const fh = await fsp.open(out, 'r+');
  try {
    const before = Buffer.alloc(cached.placeholder.length);
    await fh.read(before, 0, before.length, cached.slotOffset);
    if (!before.equals(cached.placeholder))
      throw new TvctlError('VM_FILE', `the cached boot CD ${cached.path} changed while it was copied; run again`);
    await fh.write(slot, 0, slot.length, cached.slotOffset);
  } finally {
    await fh.close();
  }
}
