/**
 * What kind of hypervisor sits behind /dev/kvm, in the terms `tvctl info` explains (src/host/facts.ts): hardware-assisted (Intel VT-x / AMD-V,
 * modules kvm_intel / kvm_amd, cpu flags vmx / svm), software PVM (module kvm_pvm: the KVM API implemented
 * without virtualization extensions, guest code emulated/paravirtualized, much slower), or none. And, from
 * that, which VM engines can work on this host. The fact gathering takes its roots as parameters; the
 * interpretation is pure.
 */
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { DEFAULT_KVM_DEVICE, kvmAddonAvailable, probeKvmDevice, type KvmDeviceProbe } from './kvm.js';

export type KvmKind = 'hardware' | 'software-pvm' | 'unknown' | 'none';

export interface KvmFacts {
  device: KvmDeviceProbe;
  /** How the device was probed: through the addon (ioctls) or only the file system (addon not built). */
  probedWith: 'addon' | 'filesystem';
  modules: { kvm: boolean; kvmIntel: boolean; kvmAmd: boolean; kvmPvm: boolean };
  cpuFlags: { vmx: boolean; svm: boolean; hypervisor: boolean };
}

export interface KvmProbe extends KvmFacts {
  kind: KvmKind;
  /** API version 12 reported by the device. */
  apiOk: boolean;
  /** One sentence: what the probe found and what it means. */
  meaning: string;
}

export interface ProbeRoots {
  devicePath?: string;
  sysRoot?: string;
  procRoot?: string;
}

/** CPU flags from /proc/cpuinfo (first processor's "flags" line). */
export function parseCpuFlags(cpuinfo: string): KvmFacts['cpuFlags'] {
  const line = cpuinfo.split('\n').find((l) => /^flags\s*:/.test(l)) ?? '';
  const flags = new Set(
    line
      .replace(/^flags\s*:/, '')
      .trim()
      .split(/\s+/),
  );
  return { vmx: flags.has('vmx'), svm: flags.has('svm'), hypervisor: flags.has('hypervisor') };
}

function fsOnlyDeviceProbe(devicePath: string): KvmDeviceProbe {
  const r: KvmDeviceProbe = { devicePath, present: false, accessible: false, errno: 0, apiVersion: -1, extensions: {} };
  try {
    statSync(devicePath);
    r.present = true;
    accessSync(devicePath, constants.R_OK | constants.W_OK);
    r.accessible = true;
  } catch (err) {
    r.error = (err as Error).message;
  }
  return r;
}

/** Gathers the facts: the device (ioctls through the addon when built), loaded modules, cpu flags. */
export function gatherKvmFacts(roots: ProbeRoots = {}): KvmFacts {
  const devicePath = roots.devicePath ?? DEFAULT_KVM_DEVICE;
  const sys = roots.sysRoot ?? '/sys';
  const proc = roots.procRoot ?? '/proc';
  const useAddon = kvmAddonAvailable();
  const device = useAddon ? probeKvmDevice(devicePath) : fsOnlyDeviceProbe(devicePath);
  const mod = (name: string): boolean => existsSync(join(sys, 'module', name));
  let cpuinfo = '';
  try {
    cpuinfo = readFileSync(join(proc, 'cpuinfo'), 'utf8');
  } catch {
    // no /proc: flags stay false
  }
  return {
    device,
    probedWith: useAddon ? 'addon' : 'filesystem',
    modules: { kvm: mod('kvm'), kvmIntel: mod('kvm_intel'), kvmAmd: mod('kvm_amd'), kvmPvm: mod('kvm_pvm') },
    cpuFlags: parseCpuFlags(cpuinfo),
  };
}

/** Pure: what the facts mean. */
export function classifyKvm(f: KvmFacts): KvmProbe {
  const apiOk = f.device.apiVersion === 12;
  let kind: KvmKind;
  let meaning: string;
  if (!f.device.present) {
    kind = 'none';
    meaning =
      `${f.device.devicePath} does not exist: no KVM on this host` +
      (f.cpuFlags.vmx || f.cpuFlags.svm
        ? ' although the CPU has VT-x/AMD-V (load kvm_intel or kvm_amd)'
        : ' and the CPU shows no VT-x/AMD-V (vmx/svm) flag') +
      "; VMs can only run under QEMU's TCG (compiled emulation)";
  } else if (f.modules.kvmIntel || f.modules.kvmAmd) {
    kind = 'hardware';
    meaning = `hardware-assisted KVM (${f.modules.kvmIntel ? 'Intel VT-x, kvm_intel' : 'AMD-V, kvm_amd'}): guest code runs natively on the CPU in VMX/SVM non-root mode`;
  } else if (f.modules.kvmPvm) {
    kind = 'software-pvm';
    meaning =
      'software KVM (PVM, module kvm_pvm): the KVM API without VT-x/AMD-V; guests run deprivileged with shadow ' +
      'paging and emulated privileged instructions, orders of magnitude slower, and not every instruction is ' +
      'emulated (a full Linux guest does not get far)';
  } else {
    kind = f.cpuFlags.vmx || f.cpuFlags.svm ? 'hardware' : 'unknown';
    meaning =
      kind === 'hardware'
        ? 'KVM with a CPU that has VT-x/AMD-V (vendor module not visible in /sys/module)'
        : 'KVM is present but neither kvm_intel, kvm_amd nor kvm_pvm is loaded and the CPU shows no vmx/svm';
  }
  if (f.device.present && !f.device.accessible) {
    meaning += `; ${f.device.devicePath} is not accessible to this user (${f.device.error ?? 'permission denied'})`;
  } else if (f.device.accessible && f.probedWith === 'addon' && !apiOk) {
    meaning += `; KVM API version ${f.device.apiVersion} is not 12`;
  }
  return { ...f, kind, apiOk, meaning };
}

export function probeKvm(roots: ProbeRoots = {}): KvmProbe {
  return classifyKvm(gatherKvmFacts(roots));
}

export interface EngineAssessment {
  engine: 'kvm' | 'qemu';
  /** Can it start a VM here at all. */
  usable: boolean;
  /** Can it boot a full Linux guest to userspace here. */
  fullLinux: boolean;
  /** qemu: the accelerator it would use. */
  accel?: 'kvm' | 'tcg';
  binary?: string;
  why: string;
}

/** Finds an executable on PATH (no shell, no `which`). */
export function findOnPath(name: string, path: string = process.env['PATH'] ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Pure: which engines work given the probe, whether the addon is built and where QEMU is. */
export function assessVmEngines(
  kvm: KvmProbe,
  env: { addonBuilt: boolean; qemuBinary: string | undefined },
): EngineAssessment[] {
  const usableKvm = kvm.device.accessible && (kvm.probedWith === 'filesystem' || kvm.apiOk);
  let kvmEngine: EngineAssessment;
  if (!env.addonBuilt) {
    kvmEngine = { engine: 'kvm', usable: false, fullLinux: false, why: 'the KVM addon is not built (run npm ci)' };
  } else if (!usableKvm) {
    kvmEngine = {
      engine: 'kvm',
      usable: false,
      fullLinux: false,
      why: kvm.device.present
        ? `${kvm.device.devicePath} cannot be used: ${kvm.device.error ?? 'API mismatch'}`
        : 'no /dev/kvm',
    };
  } else if (kvm.kind === 'hardware') {
    kvmEngine = {
      engine: 'kvm',
      usable: true,
      fullLinux: true,
      why: 'hardware-assisted KVM: the addon boots Linux at native speed',
    };
  } else {
    kvmEngine = {
      engine: 'kvm',
      usable: true,
      fullLinux: false,
      why:
        'the addon runs small guests, but this KVM is software (PVM): Linux decompresses slowly and stops early ' +
        'on an instruction PVM does not emulate; full Linux needs hardware assist',
    };
  }
  let qemu: EngineAssessment;
  if (!env.qemuBinary) {
    qemu = {
      engine: 'qemu',
      usable: false,
      fullLinux: false,
      why: 'qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)',
    };
  } else if (usableKvm && kvm.kind === 'hardware') {
    qemu = {
      engine: 'qemu',
      usable: true,
      fullLinux: true,
      accel: 'kvm',
      binary: env.qemuBinary,
      why: '-accel kvm on hardware-assisted KVM',
    };
  } else {
    qemu = {
      engine: 'qemu',
      usable: true,
      fullLinux: true,
      accel: 'tcg',
      binary: env.qemuBinary,
      why:
        kvm.kind === 'software-pvm'
          ? '-accel tcg (compiled emulation): QEMU on PVM gets as far as the addon; TCG boots Linux fully, slowly'
          : '-accel tcg (compiled emulation): no usable KVM',
    };
  }
  return [kvmEngine, qemu];
}

/**
 * Emulation-aware time budgets. A VM boot's duration depends on how this machine itself runs: natively, in a
 * hardware-assisted guest, or emulated (a guest under QEMU TCG, where every instruction is translated and every
 * privilege transition, page fault and nested guest's exit is far dearer than straight-line code). Deadlines
 * (the accelerator probe's "no guest userspace", the tests' per-run timeouts) are a native budget scaled by a
 * factor measured here: a fixed integer loop and a fixed number of small system calls, each against its time
 * on a machine that does not emulate; the larger ratio wins (a boot is bound by its slowest kind of work:
 * under TCG the system calls are ~15x dearer, the loop ~4x). Only ever scales up (a fast machine keeps the
 * native budget), and is capped so that a stalled guest still fails in bounded time.
 */
export const SPIN_ITERATIONS = 20_000_000;
/** The loop's time without emulation (35–90 ms on this project's hosts, depending on their load). */
export const NATIVE_SPIN_MS = 60;
export const SYSCALL_READS = 2000;
/** SYSCALL_READS reads of /proc/self/stat without emulation (open, read, close: 25–30 ms on a VM host). */
export const NATIVE_SYSCALL_MS = 30;
export const MAX_EMULATION_FACTOR = 40;

export interface CpuCalibration {
  spinMs: number;
  syscallMs: number;
}

function best(runs: number, f: () => void): number {
  let b = Infinity;
  for (let r = 0; r < runs; r++) {
    const t = performance.now();
    f();
    b = Math.min(b, performance.now() - t);
  }
  return b;
}

/** Times the two fixed workloads: the best of a few runs each, after a warm-up (JIT). */
export function measureCalibration(procRoot = '/proc', runs = 3): CpuCalibration {
  let x = 0x9e3779b9 | 0;
  const spin = (n: number): void => {
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
    }
  };
  spin(100_000);
  const spinMs = best(runs, () => spin(SPIN_ITERATIONS));
  const stat = join(procRoot, 'self', 'stat');
  let syscallMs = 0;
  try {
    readFileSync(stat);
    syscallMs = best(runs, () => {
      for (let i = 0; i < SYSCALL_READS; i++) readFileSync(stat);
    });
  } catch {
    // no /proc: the loop alone decides
  }
  // x is the loop's result: used, so that the JIT cannot drop the loop
  return { spinMs: spinMs + (x === 0.5 ? 1 : 0), syscallMs };
}

/** Pure: the factor a calibration means (≥ 1, ≤ MAX_EMULATION_FACTOR). */
export function emulationFactorFrom(c: CpuCalibration): number {
  const ratio = (ms: number, native: number): number => (Number.isFinite(ms) && ms > 0 ? ms / native : 1);
  const f = Math.max(ratio(c.spinMs, NATIVE_SPIN_MS), ratio(c.syscallMs, NATIVE_SYSCALL_MS));
  return Math.min(MAX_EMULATION_FACTOR, Math.max(1, Math.round(f * 10) / 10));
}

let cachedFactor: number | undefined;

/**
 * This machine's emulation factor, measured once per process (~0.2 s natively, ~1.5 s under TCG).
 * $TVCTL_EMULATION_FACTOR (a number ≥ 1) overrides it, for a machine whose speed is known.
 */
export function emulationFactor(): number {
  const env = Number(process.env['TVCTL_EMULATION_FACTOR']);
  if (Number.isFinite(env) && env >= 1) return env;
  cachedFactor ??= emulationFactorFrom(measureCalibration());
  return cachedFactor;
}

/** A native time budget (ms) scaled to this machine: deadlines derived from it hold under emulation too. */
export function vmTimeBudgetMs(nativeMs: number, factor: number = emulationFactor()): number {
  return Math.round(nativeMs * factor);
}
