/**
 * `tvctl vm run`: image → cached initramfs (+ guest init) → kernel (PVH vmlinux when we can extract one)
 * → engine (kvm: the addon; qemu; bochs: the bzImage from a boot CD) → the command's stdout/stderr on
 * ours, its exit status as ours.
 */
import { createHash, randomBytes } from 'node:crypto';
import { writeFileAtomic } from '../util/atomic-write.js';
import { accessSync, promises as fsp, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { TvctlError, isErrno } from '../errors.js';
import { nativeBuildDir } from '../paths.js';
import { trace } from '../util/trace.js';
import { ImageStore } from '../images/store.js';
import { mergeEnv } from '../util/env.js';
import { selectEngine, guestCmdline, type EngineRequest } from './engine.js';
import { encodeGuestConfig } from './guest-protocol.js';
import { ensureInitramfs, opaqueScannerFromHelper } from './initramfs.js';
import { findKernel } from './kernel.js';
import { vmlinuxFromBzImage } from './pvh.js';

export interface VmRunOptions {
  dataRoot: string;
  image: string;
  /** replaces the image's Cmd (after its Entrypoint), as in Docker */
  cmd: string[];
  env: string[];
  workdir?: string;
  engine: EngineRequest;
  kernel?: string;
  memoryMiB: number;
  cpus: number;
  debug: boolean;
  stdout: (b: Buffer) => void;
  stderr: (b: Buffer) => void;
  /** PATH used to find QEMU (tests simulate its absence) */
  path?: string;
  /** stops the VM (the engine kills its VMM and removes its files) */
  signal?: AbortSignal;
}

export interface VmTimings {
  /** vm run entry → VMM spawned: image resolve, kernel, engine choice, initramfs (cached) */
  prepareMs: number;
  /** VMM spawned → guest clock starts: QEMU start-up and kernel load */
  kernelLoadMs?: number;
  /** guest clock 0 → guest init running */
  bootToInitMs?: number;
  /** the command, as the guest init measured it (exec to exit) */
  commandMs?: number;
  /** exit marker → VMM gone (power-off) */
  shutdownMs?: number;
  totalMs: number;
}

export interface VmRunResult {
  image: string;
  engine: string;
  engineWhy: string;
  kernel: string;
  /** what the engine booted: the extracted PVH vmlinux, or the bzImage itself */
  bootKernel: string;
  cmdline: string;
  initramfs: string;
  initramfsBuilt: boolean;
  exitCode: number;
  timings: VmTimings;
}

export function guestInitPath(): string {
  return join(nativeBuildDir(), 'tvctl-guestinit');
}

/** The compare workload (native/workload, a few KB): in every initramfs, so `compare --workload` finds it. */
function workloadPath(): string | undefined {
  const p = join(nativeBuildDir(), 'tvctl-workload');
  try {
    accessSync(p);
    return p;
  } catch {
    return undefined;
  }
}

function opaqueScanPath(): string {
  return join(nativeBuildDir(), 'tvctl-opaque-scan');
}

/** Parses "256m", "1g", "512" (MiB) → MiB. */
export function parseMemory(s: string): number {
  const m = /^(\d+)([kmgKMG]?)[bB]?$/.exec(s.trim());
  if (!m) throw new TvctlError('BAD_USAGE', `invalid --memory "${s}" (e.g. 256m, 1g)`);
  const n = Number(m[1]);
  const unit = (m[2] ?? '').toLowerCase();
  const mib = unit === 'g' ? n * 1024 : unit === 'k' ? Math.ceil(n / 1024) : n;
  if (mib < 64) throw new TvctlError('BAD_USAGE', `--memory ${s} is too small for a Linux guest (at least 64m)`);
  return mib;
}

/** The file as the merged image shows it: the topmost layer that has it (whiteouts are rare for /etc/passwd). */
async function readFromLayers(layerDirs: readonly string[], rel: string): Promise<string | undefined> {
  for (const dir of [...layerDirs].reverse()) {
    try {
      return await fsp.readFile(join(dir, rel), 'utf8');
    } catch {
      // not in this layer
    }
  }
  return undefined;
}

/** Parses passwd/group text: name → id. */
export function idsByName(text: string | undefined, idField: number): Map<string, { id: string; gid?: string }> {
  const out = new Map<string, { id: string; gid?: string }>();
  for (const line of (text ?? '').split('\n')) {
    const f = line.split(':');
    if (f.length > idField && f[0]) out.set(f[0], { id: f[idField]!, ...(idField === 2 && f[3] ? { gid: f[3] } : {}) });
  }
  return out;
}

/** The entry for `name` in the image's /etc/passwd or /etc/group. */
async function imageIdEntry(
  layerDirs: readonly string[],
  file: 'passwd' | 'group',
  name: string,
): Promise<{ id: string; gid?: string }> {
  const e = idsByName(await readFromLayers(layerDirs, `etc/${file}`), 2).get(name);
  if (!e) {
    const what = file === 'passwd' ? 'user' : 'group';
    throw new TvctlError(
      'USER_NOT_FOUND',
      `unable to find ${what} ${name}: no matching entries in the image's /etc/${file}`,
    );
  }
  return e;
}

/** The image's User ("name", "uid", "name:group", "uid:gid") as numeric uid:gid, looked up in the image. */
export async function resolveUser(user: string, layerDirs: readonly string[]): Promise<string> {
  const [u, g] = user.split(':') as [string, string | undefined];
  let uid = u;
  let gid = g;
  if (!/^\d+$/.test(u)) {
    const e = await imageIdEntry(layerDirs, 'passwd', u);
    uid = e.id;
    gid ??= e.gid;
  }
  if (gid !== undefined && !/^\d+$/.test(gid)) gid = (await imageIdEntry(layerDirs, 'group', gid)).id;
  return gid === undefined ? uid : `${uid}:${gid}`;
}

/** Finds the kernel the engine boots: for a bzImage with an LZ4 payload, the cached PVH vmlinux. */
export async function prepareKernel(
  dataRoot: string,
  kernelFlag: string | undefined,
): Promise<{ bzImage: string; bootable: string }> {
  const bzImage = kernelFlag ?? findKernel(dataRoot);
  let st;
  try {
    st = statSync(bzImage);
  } catch (err) {
    throw new TvctlError(
      'KERNEL_NOT_FOUND',
      `kernel ${bzImage}: ${isErrno(err, 'ENOENT') ? 'no such file' : (err as Error).message}`,
    );
  }
  if (!st.isFile()) throw new TvctlError('KERNEL_NOT_FOUND', `kernel ${bzImage} is not a file`);
  // The PVH entry skips the guest's own decompression (~0.3 s under TCG). Cached per kernel path, size and
  // mtime: not the inode, which a new mount of the same file (a 9p share, a restored backup) changes. A new
  // version of the same path replaces the old entry (each one is ~50 MB).
  const dir = join(dataRoot, 'vm', 'vmlinux');
  const pathKey = createHash('sha256').update(resolve(bzImage)).digest('hex').slice(0, 12);
  const cached = join(dir, `${pathKey}-${st.size}-${Math.floor(st.mtimeMs)}.elf`);
  try {
    accessSync(cached);
    return { bzImage, bootable: cached };
  } catch {
    // extract below
  }
  let bytes: Buffer;
  try {
    bytes = await fsp.readFile(bzImage);
  } catch (err) {
    throw new TvctlError('KERNEL_NOT_FOUND', `kernel ${bzImage}: ${(err as Error).message}`);
  }
  if (bytes.subarray(0, 4).toString('latin1') === '\x7fELF') return { bzImage, bootable: bzImage };
  let elf: Uint8Array;
  try {
    elf = vmlinuxFromBzImage(bytes, bzImage).elfBytes;
  } catch (err) {
    if (err instanceof TvctlError && /bzImage|boot protocol|magic|setup/i.test(err.message)) {
      throw new TvctlError('KERNEL_INVALID', `guest kernel: ${err.message}`);
    }
    // a bzImage we cannot unpack (another compression): let the guest decompress itself
    return { bzImage, bootable: bzImage };
  }
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(cached, elf, 0o644);
  for (const f of await fsp.readdir(dir)) {
    // Stale: other versions of this kernel path, and entries keyed by file identity alone (size-mtime-ino),
    // which a data root written by an older tvctl may hold.
    const stale =
      f.endsWith('.elf') && join(dir, f) !== cached && (f.startsWith(`${pathKey}-`) || /^\d+-\d+-\d+\.elf$/.test(f));
    if (stale) await fsp.rm(join(dir, f), { force: true });
  }
  return { bzImage, bootable: cached };
}

export async function vmRun(o: VmRunOptions): Promise<VmRunResult> {
  const t0 = performance.now();
  const image = await new ImageStore(o.dataRoot).resolve(o.image);
  trace('vm: image resolved');
  const kernel = await prepareKernel(o.dataRoot, o.kernel);
  trace('vm: kernel found');
  const guestInit = guestInitPath();
  try {
    accessSync(guestInit);
  } catch {
    throw new TvctlError('VM_INIT_MISSING', `guest init ${guestInit} is not built; run "npm ci" or "make -C native"`);
  }
  const engine = await selectEngine({
    request: o.engine,
    dataRoot: o.dataRoot,
    kernel: kernel.bootable,
    guestInit,
    cpus: o.cpus,
    ...(o.path !== undefined ? { path: o.path } : {}),
  });
  trace('vm: engine selected');
  const argv = [...(image.config.entrypoint ?? []), ...(o.cmd.length ? o.cmd : (image.config.cmd ?? []))];
  if (argv.length === 0)
    throw new TvctlError('BAD_USAGE', `image "${o.image}" has no Entrypoint or Cmd; give a command`);
  const initramfs = await ensureInitramfs({
    dataRoot: o.dataRoot,
    imageId: image.id,
    layerDirs: image.layerDirs,
    guestInit,
    ...(workloadPath() ? { workload: workloadPath()! } : {}),
    scanOpaque: opaqueScannerFromHelper(opaqueScanPath()),
  });
  trace('vm: initramfs ready');
  const nonce = randomBytes(8).toString('hex');
  const hostname = randomBytes(6).toString('hex');
  const env = mergeEnv(image.config.env, o.env, { hostname });
  if (!env.some((e) => e.startsWith('HOME='))) env.push('HOME=/root');
  const user = image.config.user ? await resolveUser(image.config.user, image.layerDirs) : undefined;
  const cfg = encodeGuestConfig({
    nonce,
    hostname,
    cwd: o.workdir ?? image.config.workingDir ?? '/',
    env,
    argv,
    ...(user ? { user } : {}),
  });
  const cmdline = guestCmdline(cfg, o.debug, engine.kernelParams);

  const bootKernel = engine.bootsBzImage ? kernel.bzImage : kernel.bootable;
  if (o.debug) o.stderr(Buffer.from(`tvctl: ${engine.label} boots ${bootKernel} with: ${cmdline}\n`));

  const tSpawn = performance.now();
  const r = await engine.run(
    { kernel: bootKernel, initrd: initramfs.path, cmdline, memoryMiB: o.memoryMiB, cpus: o.cpus, nonce },
    { onStdout: o.stdout, onStderr: o.stderr, ...(o.debug ? { onConsole: o.stderr } : {}) },
    o.signal ? { signal: o.signal } : {},
  );
  const tEnd = performance.now();
  trace('vm: guest done');
  if (r.status === undefined) {
    if (r.failure) throw new TvctlError('VM_GUEST_FAILED', `guest init: ${r.failure}`);
    throw new TvctlError(
      'VM_STOPPED',
      `the VM (${engine.label}) stopped before the command finished: ${engine.describeStop(r)}${o.debug ? '' : ' (--debug shows the kernel console)'}`,
    );
  }
  const timings: VmTimings = { prepareMs: Math.round(tSpawn - t0), totalMs: Math.round(tEnd - t0) };
  if (r.hostInitMs !== undefined && r.guestInitMs !== undefined) {
    timings.kernelLoadMs = Math.max(0, Math.round(r.hostInitMs - r.guestInitMs));
    timings.bootToInitMs = r.guestInitMs;
  }
  if (r.guestExitMs !== undefined && r.guestInitMs !== undefined) timings.commandMs = r.guestExitMs - r.guestInitMs;
  if (r.hostExitMs !== undefined) timings.shutdownMs = Math.round(r.hostEndMs - r.hostExitMs);
  return {
    image: image.id,
    engine: engine.label,
    engineWhy: engine.why,
    kernel: kernel.bzImage,
    bootKernel,
    cmdline,
    initramfs: initramfs.path,
    initramfsBuilt: initramfs.built,
    exitCode: r.status,
    timings,
  };
}
