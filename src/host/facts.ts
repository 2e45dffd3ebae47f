/**
 * Host facts for `tvctl info` and the compare report: what this kernel offers for OS-level virtualization
 * (cgroups, namespaces, overlayfs) and for full virtualization (/dev/kvm kind, QEMU, a guest kernel), which
 * engines can run here and why — explained as four rungs: interpreted emulation (Bochs), compiled emulation
 * (QEMU TCG), hardware-assisted virtualization (KVM), OS-level virtualization (containers).
 * Gathering takes its roots as parameters; the explanation is pure.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { arch, availableParallelism, release, version } from 'node:os';
import { join } from 'node:path';
import { detectCgroupMode, v1ControllersFromEntries } from '../cgroups/detect.js';
import type { CgroupMode } from '../cgroups/types.js';
import { errorMessage } from '../errors.js';
import { nativeBuildDir } from '../paths.js';
import { installedKernelVersion, kernelPath } from '../vm/kernel.js';
import { kvmAddonAvailable } from '../vm/kvm.js';
import { assessVmEngines, findOnPath, probeKvm, type EngineAssessment, type KvmProbe } from '../vm/probe.js';
import { findBochs, type BochsAvailability } from '../vm/bochs.js';

/** The namespaces a container needs (names as in /proc/self/ns). */
export const CONTAINER_NAMESPACES = ['mnt', 'pid', 'uts', 'ipc', 'net', 'cgroup'] as const;

export interface CgroupFacts {
  mode?: CgroupMode;
  /** controllers on v1 hierarchies (v1, hybrid) */
  v1Controllers: string[];
  /** controllers enabled on the cgroup2 hierarchy (v2: all of them; hybrid: usually few or none) */
  v2Controllers: string[];
  error?: string;
}

export interface EngineUse {
  engine: 'container' | 'kvm' | 'qemu' | 'bochs';
  usable: boolean;
  /** kvm/qemu/bochs: can boot a full Linux guest here (the addon may run small guests only) */
  fullLinux: boolean;
  accel?: 'kvm' | 'tcg';
  /** set when the engine works but a full Linux guest needs something missing */
  needs?: 'guest-kernel';
  why: string;
}

export interface HostFacts {
  kernel: { release: string; version: string; arch: string; bootId?: string };
  cpus: number;
  memTotalKiB?: number;
  cgroups: CgroupFacts;
  namespaces: string[];
  overlayfs: boolean;
  containerSupervisor: { path: string; built: boolean };
  kvm: KvmProbe;
  qemu: { binary?: string };
  guestKernel: { installed: boolean; path: string; version?: string };
  engines: EngineUse[];
  /** plain sentences, one per rung of the taxonomy */
  explanation: string[];
}

export interface HostFactRoots {
  procRoot?: string;
  cgroupRoot?: string;
  dataRoot: string;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

export function gatherCgroupFacts(cgroupRoot = '/sys/fs/cgroup', procRoot = '/proc'): CgroupFacts {
  let mode: CgroupMode;
  try {
    mode = detectCgroupMode(cgroupRoot);
  } catch (err) {
    return { v1Controllers: [], v2Controllers: [], error: errorMessage(err) };
  }
  const words = (t: string | undefined): string[] => (t ?? '').trim().split(/\s+/).filter(Boolean).sort();
  if (mode === 'v2')
    return { mode, v1Controllers: [], v2Controllers: words(read(join(cgroupRoot, 'cgroup.controllers'))) };
  let entries: string[] = [];
  try {
    entries = readdirSync(cgroupRoot);
  } catch {
    // detectCgroupMode has just read it
  }
  return {
    mode,
    v1Controllers: v1ControllersFromEntries(entries, read(join(procRoot, 'cgroups'))),
    v2Controllers: mode === 'hybrid' ? words(read(join(cgroupRoot, 'unified', 'cgroup.controllers'))) : [],
  };
}

/** Pure: "nodev\toverlay" in /proc/filesystems. */
export function hasOverlayfs(filesystems: string): boolean {
  return filesystems.split('\n').some((l) => l.trim().split(/\s+/).pop() === 'overlay');
}

/** Pure: can containers run here, and why (not). */
export function assessContainerEngine(
  f: Pick<HostFacts, 'cgroups' | 'namespaces' | 'overlayfs' | 'containerSupervisor'>,
): EngineUse {
  const missingNs = CONTAINER_NAMESPACES.filter((n) => !f.namespaces.includes(n));
  const problems: string[] = [];
  if (!f.cgroups.mode) problems.push(`no cgroups (${f.cgroups.error ?? 'not mounted'})`);
  if (missingNs.length) problems.push(`kernel lacks namespaces: ${missingNs.join(', ')}`);
  if (!f.overlayfs) problems.push('no overlayfs in /proc/filesystems (modprobe overlay)');
  if (!f.containerSupervisor.built)
    problems.push(`the supervisor ${f.containerSupervisor.path} is not built (run npm ci)`);
  if (problems.length) return { engine: 'container', usable: false, fullLinux: false, why: problems.join('; ') };
  return {
    engine: 'container',
    usable: true,
    fullLinux: true,
    why: `namespaces (${CONTAINER_NAMESPACES.join(', ')}), cgroups ${f.cgroups.mode} and overlayfs are all available`,
  };
}

/** Pure: the VM engines, from the KVM probe's assessment plus the guest kernel. */
export function vmEngineUses(
  assessed: readonly EngineAssessment[],
  guestKernel: HostFacts['guestKernel'],
): EngineUse[] {
  return assessed.map((a) => {
    const use: EngineUse = {
      engine: a.engine,
      usable: a.usable,
      fullLinux: a.fullLinux,
      why: a.why,
      ...(a.accel ? { accel: a.accel } : {}),
    };
    if (a.usable && a.fullLinux && !guestKernel.installed) {
      use.fullLinux = false;
      use.needs = 'guest-kernel';
      use.why = `no guest kernel is installed (run "tvctl vm kernel install"); with one: ${a.why}`;
    }
    return use;
  });
}

/** Pure: the bochs engine from what is installed (Bochs, its BIOS images, the boot-CD tools) and the guest kernel. */
export function bochsEngineUse(b: BochsAvailability, guestKernel: HostFacts['guestKernel']): EngineUse {
  if (!b.usable) return { engine: 'bochs', usable: false, fullLinux: false, why: b.why };
  if (!guestKernel.installed)
    return {
      engine: 'bochs',
      usable: true,
      fullLinux: false,
      needs: 'guest-kernel',
      why: `no guest kernel is installed (run "tvctl vm kernel install"); with one: ${b.why}`,
    };
  return { engine: 'bochs', usable: true, fullLinux: true, why: b.why };
}

/** A list for a sentence: "a, b", or "none". */
export function list(xs: readonly string[]): string {
  return xs.length ? xs.join(', ') : 'none';
}

/** Pure: the four rungs of the taxonomy, each said plainly and tied to what this host has. */
export function explainHost(f: Omit<HostFacts, 'explanation'>): string[] {
  const container = f.engines.find((e) => e.engine === 'container');
  const kvm = f.engines.find((e) => e.engine === 'kvm');
  const qemu = f.engines.find((e) => e.engine === 'qemu');
  const bochs = f.engines.find((e) => e.engine === 'bochs');
  const cg = f.cgroups.mode
    ? `cgroups ${f.cgroups.mode}${f.cgroups.v1Controllers.length ? ` (v1: ${list(f.cgroups.v1Controllers)})` : ''}${f.cgroups.v2Controllers.length || f.cgroups.mode !== 'v1' ? ` (v2: ${list(f.cgroups.v2Controllers)})` : ''}`
    : 'no cgroups';
  const out: string[] = [];
  out.push(
    `OS-level virtualization (containers, "tvctl run"): the workload runs as ordinary processes on this host's own ` +
      `kernel ${f.kernel.release}, fenced by namespaces (${list(f.namespaces)}), limited by ${cg} and given its own ` +
      `root through ${f.overlayfs ? 'overlayfs' : 'a copy (no overlayfs)'}; nothing is emulated, so it starts in milliseconds — ` +
      (container?.usable ? 'usable here.' : `not usable here: ${container?.why ?? 'unknown'}.`),
  );
  const kindText =
    f.kvm.kind === 'hardware'
      ? 'this host has it'
      : f.kvm.kind === 'software-pvm'
        ? '/dev/kvm here is software PVM, not VT-x/AMD-V, so guests run deprivileged with emulated privileged instructions, far slower'
        : f.kvm.kind === 'none'
          ? 'this host has no /dev/kvm'
          : "this host's /dev/kvm is of an unknown kind";
  out.push(
    `Hardware-assisted virtualization (KVM, "tvctl vm run --engine kvm"): the CPU itself runs the guest kernel's code ` +
      `in VT-x/AMD-V non-root mode and the host kernel's KVM module handles only the exits; ${kindText} — ` +
      (kvm?.usable && kvm.fullLinux
        ? 'usable for full Linux guests.'
        : `${kvm?.usable ? 'small guests only' : 'not usable'}: ${kvm?.why ?? 'unknown'}.`),
  );
  out.push(
    `Compiled emulation (QEMU TCG, "tvctl vm run --engine qemu"): QEMU translates blocks of guest machine code into ` +
      `host code once and runs the translations, so it needs no hypervisor at all, at a large cost in speed — ` +
      (!f.qemu.binary
        ? 'not usable: qemu-system-x86_64 is not installed.'
        : qemu?.accel === 'kvm'
          ? `available (${f.qemu.binary}), but QEMU will use -accel kvm here, which is faster.`
          : `usable here (${f.qemu.binary}, -accel tcg)${f.guestKernel.installed ? '' : ', once a guest kernel is installed ("tvctl vm kernel install")'}.`),
  );
  out.push(
    `Interpreted emulation (Bochs, "tvctl vm run --engine bochs"): the emulator decodes and executes one guest ` +
      'instruction at a time, the slowest rung (seconds to tens of seconds per boot), which needs nothing from the host CPU but ' +
      'the ability to run a program; each rung up hands more of the work to the real CPU, and containers hand it ' +
      'all over by sharing the kernel — ' +
      (bochs?.usable && bochs.fullLinux
        ? 'usable here.'
        : bochs?.needs === 'guest-kernel'
          ? 'usable here once a guest kernel is installed ("tvctl vm kernel install").'
          : `not usable here: ${bochs?.why ?? 'unknown'}.`),
  );
  return out;
}

export function gatherHostFacts(roots: HostFactRoots): HostFacts {
  const proc = roots.procRoot ?? '/proc';
  let namespaces: string[] = [];
  try {
    namespaces = readdirSync(join(proc, 'self', 'ns'))
      .filter((n) => !n.endsWith('_for_children'))
      .sort();
  } catch {
    // no /proc
  }
  const bootId = read(join(proc, 'sys', 'kernel', 'random', 'boot_id'))?.trim();
  const mem = /^MemTotal:\s+(\d+)/m.exec(read(join(proc, 'meminfo')) ?? '')?.[1];
  const supervisor = join(nativeBuildDir(), 'tvinit');
  const kvm = probeKvm({ procRoot: proc });
  const qemuBinary = findOnPath('qemu-system-x86_64');
  const kpath = kernelPath(roots.dataRoot);
  const kver = installedKernelVersion(roots.dataRoot);
  const guestKernel: HostFacts['guestKernel'] = {
    installed: existsSync(kpath),
    path: kpath,
    ...(kver ? { version: kver } : {}),
  };
  const partial = {
    kernel: { release: release(), version: version(), arch: arch(), ...(bootId ? { bootId } : {}) },
    cpus: availableParallelism(),
    ...(mem ? { memTotalKiB: Number(mem) } : {}),
    cgroups: gatherCgroupFacts(roots.cgroupRoot, proc),
    namespaces,
    overlayfs: hasOverlayfs(read(join(proc, 'filesystems')) ?? ''),
    containerSupervisor: { path: supervisor, built: existsSync(supervisor) },
    kvm,
    qemu: qemuBinary ? { binary: qemuBinary } : {},
    guestKernel,
  };
  const engines: EngineUse[] = [
    assessContainerEngine(partial),
    ...vmEngineUses(assessVmEngines(kvm, { addonBuilt: kvmAddonAvailable(), qemuBinary }), guestKernel),
    bochsEngineUse(findBochs(), guestKernel),
  ];
  const withEngines = { ...partial, engines };
  return { ...withEngines, explanation: explainHost(withEngines) };
}
