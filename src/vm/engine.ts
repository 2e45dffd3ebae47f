/**
 * VM engines behind one interface, and the choice between them (auto | kvm | qemu | bochs). A choice that
 * cannot work here fails at once with the reason (exit 125); `auto` picks the fastest engine that works, from
 * facts: the KVM probe (hardware → the kvm engine, the addon) and otherwise a cached boot probe of QEMU's
 * accelerators. Bochs (the interpreted rung) is never picked by `auto`: it only runs when asked for.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TvctlError } from '../errors.js';
import { GUEST_INIT_PATH, encodeGuestConfig, type GuestRunIO, type GuestRunResult } from './guest-protocol.js';
import { CpioWriter, S_IFREG } from './initramfs.js';
import { assessVmEngines, probeKvm, vmTimeBudgetMs } from './probe.js';
import { findBochs } from './bochs.js';
import { BochsEngine } from './bochs-engine.js';
import { kvmAddonAvailable } from './kvm.js';
import { KvmEngine, kvmEngineDecision, type KvmEngineDecision } from './kvm-engine.js';
import {
  accelProbeKey,
  describeProbeFailure,
  findQemu,
  qemuFailureLine,
  readAccelProbe,
  runQemu,
  writeAccelProbe,
  type AccelProbeResult,
  type QemuAccel,
} from './qemu.js';

export type EngineRequest = 'auto' | 'kvm' | 'qemu' | 'bochs';
export const ENGINE_REQUESTS: readonly EngineRequest[] = ['auto', 'kvm', 'qemu', 'bochs'];

/** What every engine gets: a kernel, an initramfs, a command line and where the streams go. */
export interface GuestBootSpec {
  kernel: string;
  initrd: string;
  cmdline: string;
  memoryMiB: number;
  cpus: number;
  nonce: string;
}

export interface VmEngine {
  readonly name: 'kvm' | 'qemu' | 'bochs';
  /** e.g. "qemu (tcg)" */
  readonly label: string;
  /** boots the bzImage itself, not the extracted ELF vmlinux (a boot loader that takes bzImages only) */
  readonly bootsBzImage?: boolean;
  /** why this engine (and accelerator) was chosen */
  readonly why: string;
  /** kernel parameters this engine needs (e.g. the TSC rate under TCG) */
  readonly kernelParams: string[];
  run(
    spec: GuestBootSpec,
    io: GuestRunIO,
    opts?: { timeoutMs?: number; signal?: AbortSignal },
  ): Promise<GuestRunResult>;
  /** One line: why the VM ended before the guest init reported (for a run whose `status` is undefined). */
  describeStop(r: GuestRunResult): string;
}

export class QemuEngine implements VmEngine {
  readonly name = 'qemu' as const;
  constructor(
    readonly binary: string,
    readonly accel: QemuAccel,
    readonly why: string,
  ) {}
  get label(): string {
    return `qemu (${this.accel})`;
  }
  get kernelParams(): string[] {
    return tcgKernelParams(this.accel);
  }
  run(
    spec: GuestBootSpec,
    io: GuestRunIO,
    opts: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<GuestRunResult> {
    const { nonce, ...rest } = spec;
    return runQemu({ ...rest, binary: this.binary, accel: this.accel }, nonce, io, opts);
  }
  describeStop(r: GuestRunResult): string {
    return qemuFailureLine(r.vmmStderr);
  }
}

export interface SelectEngineOptions {
  request: EngineRequest;
  dataRoot: string;
  /** the (QEMU-bootable) kernel: accelerator probes boot it */
  kernel: string;
  guestInit: string;
  /** vCPUs asked for: the kvm engine runs one */
  cpus?: number;
  path?: string;
  /** where TVCTL_KVM_ALLOW_SOFTWARE is read (default process.env) */
  env?: Readonly<Record<string, string | undefined>>;
}

/** The probe's verdict on the kvm engine (never throws: an addon that fails to load is a reason, too). */
export function kvmEngineChoice(env: Readonly<Record<string, string | undefined>> = process.env): KvmEngineDecision {
  try {
    const kvm = assessVmEngines(probeKvm(), { addonBuilt: kvmAddonAvailable(), qemuBinary: undefined })[0]!;
    return kvmEngineDecision(kvm, env);
  } catch (err) {
    return { use: false, why: `the KVM addon cannot be used: ${(err as Error).message}` };
  }
}

export async function selectEngine(o: SelectEngineOptions): Promise<VmEngine> {
  const cpus = o.cpus ?? 1;
  if (o.request === 'bochs') {
    const b = findBochs(o.path !== undefined ? { path: o.path } : {});
    if (!b.usable) throw new TvctlError('VM_ENGINE_UNAVAILABLE', `--engine bochs cannot work here: ${b.why}`);
    if (cpus !== 1)
      throw new TvctlError('VM_ENGINE_UNAVAILABLE', '--engine bochs runs one vCPU; use --cpus 1 or another engine');
    return new BochsEngine(b.install, b.why, o.dataRoot);
  }
  if (o.request === 'kvm') {
    const k = kvmEngineChoice(o.env ?? process.env);
    if (!k.use) throw new TvctlError('VM_ENGINE_UNAVAILABLE', `--engine kvm cannot work here: ${k.why}`);
    if (cpus !== 1)
      throw new TvctlError('VM_ENGINE_UNAVAILABLE', `--engine kvm runs one vCPU; use --cpus 1 or --engine qemu`);
    return new KvmEngine(k.hardware, k.why);
  }
  // auto: the addon on hardware-assisted KVM (the override is for an explicit --engine kvm only)
  const kvm = o.request === 'auto' ? kvmEngineChoice({}) : undefined;
  if (kvm?.use && cpus === 1) return new KvmEngine(kvm.hardware, kvm.why);
  let binary: string;
  try {
    binary = findQemu(o.path);
  } catch (err) {
    if (o.request === 'qemu') throw err;
    throw new TvctlError(
      'VM_ENGINE_UNAVAILABLE',
      `no VM engine works here: ${(err as Error).message}; kvm: ${kvm?.use ? 'runs one vCPU only' : kvm?.why}`,
    );
  }
  const probe = await probeQemuAccel(o.dataRoot, binary, o.kernel, o.guestInit);
  return new QemuEngine(binary, probe.accel, probe.why);
}

export function accelProbePath(dataRoot: string): string {
  return join(dataRoot, 'vm', 'qemu-accel.json');
}

/** Boots the kernel with an initramfs holding only the guest init; ok once the init reports an exit. */
async function bootProbe(
  binary: string,
  accel: QemuAccel,
  kernel: string,
  initrd: string,
  timeoutMs: number,
): Promise<{ ok: boolean; ms: number; why: string }> {
  const nonce = randomBytes(6).toString('hex');
  const cfg = encodeGuestConfig({ nonce, hostname: 'probe', cwd: '/', env: [], argv: ['/probe-true'] });
  const r = await runQemu(
    {
      binary,
      accel,
      kernel,
      initrd,
      cmdline: guestCmdline(cfg, false, tcgKernelParams(accel)),
      memoryMiB: 256,
      cpus: 1,
    },
    nonce,
    { onStdout: () => undefined, onStderr: () => undefined },
    { timeoutMs },
  );
  return { ok: r.status !== undefined, ms: Math.round(r.hostEndMs), why: describeProbeFailure(r, timeoutMs) };
}

export async function probeQemuAccel(
  dataRoot: string,
  binary: string,
  kernel: string,
  guestInit: string,
): Promise<AccelProbeResult> {
  const file = accelProbePath(dataRoot);
  const key = await accelProbeKey(binary, kernel);
  const cached = await readAccelProbe(file, key);
  if (cached) return cached;
  const now = new Date().toISOString();
  let result: AccelProbeResult;
  let kvmUsable = true;
  try {
    await fsp.access('/dev/kvm', fsp.constants.R_OK | fsp.constants.W_OK);
  } catch {
    kvmUsable = false;
  }
  const dir = join(dataRoot, 'vm');
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const initrd = join(dir, `probe-${process.pid}.cpio`);
  try {
    const chunks: Buffer[] = [];
    const w = new CpioWriter((c) => void chunks.push(c));
    await w.add(
      { name: GUEST_INIT_PATH.slice(1), mode: S_IFREG | 0o755, uid: 0, gid: 0, mtime: 0 },
      await fsp.readFile(guestInit),
    );
    await w.finish();
    await fsp.writeFile(initrd, Buffer.concat(chunks));
    // Deadlines are native budgets scaled to this machine (probe.ts): under emulation (a TCG guest) a boot to
    // userspace takes many times longer, and a fixed deadline would call a working accelerator broken. KVM is
    // probed first: TCG is only chosen if it boots sooner, so it gets no longer than KVM took.
    const kvm = kvmUsable ? await bootProbe(binary, 'kvm', kernel, initrd, vmTimeBudgetMs(20_000)) : undefined;
    const tcg = await bootProbe(binary, 'tcg', kernel, initrd, kvm?.ok ? kvm.ms + 1000 : vmTimeBudgetMs(60_000));
    if (!tcg.ok && !kvm?.ok)
      throw new TvctlError(
        'VM_ENGINE_UNAVAILABLE',
        `QEMU cannot boot ${kernel} here: tcg: ${tcg.why}${kvm ? `; kvm: ${kvm.why}` : ''}`,
      );
    if (!kvm) {
      result = {
        key,
        accel: 'tcg',
        tcgMs: tcg.ms,
        why: '-accel tcg: /dev/kvm is absent or not accessible',
        probedAt: now,
      };
    } else if (kvm.ok && (!tcg.ok || kvm.ms < tcg.ms)) {
      result = {
        key,
        accel: 'kvm',
        kvmMs: kvm.ms,
        ...(tcg.ok ? { tcgMs: tcg.ms } : {}),
        why: `-accel kvm: booted to userspace in ${kvm.ms} ms (tcg ${tcg.ok ? `${tcg.ms} ms` : 'not sooner'})`,
        probedAt: now,
      };
    } else {
      const kvmWhy = kvm.ok ? `booted in ${kvm.ms} ms, slower than tcg` : kvm.why;
      result = {
        key,
        accel: 'tcg',
        tcgMs: tcg.ms,
        ...(kvm.ok ? { kvmMs: kvm.ms } : {}),
        why: `-accel tcg (${tcg.ms} ms to userspace): QEMU's -accel kvm on this /dev/kvm: ${kvmWhy}`,
        probedAt: now,
      };
    }
  } finally {
    await fsp.rm(initrd, { force: true });
  }
  await writeAccelProbe(file, result);
  return result;
}

/**
 * Under TCG the guest's TSC runs at the host's rate, but calibrating it against the emulated PIT fails when
 * the host is busy, and the kernel then stalls in early boot. Telling it the rate skips the calibration.
 */
export function tcgKernelParams(accel: QemuAccel, cpuinfo?: string): string[] {
  if (accel !== 'tcg') return [];
  const khz = hostTscKhz(cpuinfo);
  return khz ? [`tsc_early_khz=${khz}`, 'tsc=reliable'] : [];
}

export function hostTscKhz(cpuinfo?: string): number | undefined {
  let text = cpuinfo;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      return undefined;
    }
  }
  const m = /^cpu MHz\s*:\s*([\d.]+)/m.exec(text);
  return m ? Math.round(Number(m[1]) * 1000) : undefined;
}

// ---------------------------------------------------------------------------------------------------------
// The guest init's configuration and the kernel command line (pure)

/** Linux x86's COMMAND_LINE_SIZE (including the terminating NUL). */
export const KERNEL_CMDLINE_MAX = 2048;

/** `quiet loglevel=0`: the console carries only the init's markers; cryptomgr.notests saves ~0.2 s under TCG. */
export function guestCmdline(config: string, debug: boolean, extra: readonly string[] = []): string {
  const base = debug ? ['console=ttyS0', 'loglevel=7'] : ['console=ttyS0', 'quiet', 'loglevel=0'];
  const line = [...base, ...extra, 'panic=-1', 'cryptomgr.notests', `rdinit=${GUEST_INIT_PATH}`, '--', config].join(
    ' ',
  );
  if (line.length >= KERNEL_CMDLINE_MAX) {
    throw new TvctlError(
      'VM_CMDLINE_TOO_LONG',
      `the command, environment and working dir need ${line.length} bytes on the kernel command line (limit ${KERNEL_CMDLINE_MAX - 1}); shorten them`,
    );
  }
  return line;
}
