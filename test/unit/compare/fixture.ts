import type { CompareResult, ModeResult } from '../../../src/compare/compare.js';
import { finishModes } from '../../../src/compare/compare.js';
import type { RunSample } from '../../../src/compare/measure.js';
import { planModes } from '../../../src/compare/modes.js';
import type { HostFacts } from '../../../src/host/facts.js';
import type { Phases } from '../../../src/compare/phases.js';

/** Phases of a run: `work` ms of it in the workload, a tenth in teardown, the rest boot (how: a container's). */
export function phasesOf(wallMs: number, work: number | undefined, vm = false): Phases {
  if (work === undefined) return { totalMs: wallMs, how: {} };
  return {
    totalMs: wallMs,
    bootMs: wallMs - work - wallMs / 10,
    workMs: work,
    teardownMs: wallMs / 10,
    how: vm
      ? { boot: 'derived', work: 'mode clock', teardown: 'host clock' }
      : { boot: 'host clock', work: 'host clock', teardown: 'host clock' },
  };
}

export function sample(
  wallMs: number,
  memStartedKiB: number,
  stdout = 'hello\n',
  cpu = 100,
  phases: Phases = phasesOf(wallMs, undefined),
): RunSample {
  return {
    phases,
    wallMs,
    cpuUserMs: cpu * 0.7,
    cpuSysMs: cpu * 0.3,
    memTotalKiB: 60000 + memStartedKiB,
    memCliKiB: 60000,
    memStartedKiB,
    processes: [
      { pid: 10, name: 'node', hwmKiB: 60000, depth: 0 },
      { pid: 11, name: 'worker', hwmKiB: memStartedKiB, depth: 1 },
    ],
    memorySamples: 10,
    exitCode: 0,
    stdout,
    stderr: '',
  };
}

export const HOST: HostFacts = {
  kernel: { release: '6.18.44-test', version: '#1', arch: 'x64', bootId: 'aaaa' },
  cpus: 2,
  memTotalKiB: 24_000_000,
  cgroups: { mode: 'hybrid', v1Controllers: ['cpu', 'memory', 'pids'], v2Controllers: [] },
  namespaces: ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'uts'],
  overlayfs: true,
  containerSupervisor: { path: '/x/tvinit', built: true },
  kvm: {
    device: { devicePath: '/dev/kvm', present: true, accessible: true, errno: 0, apiVersion: 12, extensions: {} },
    probedWith: 'addon',
    modules: { kvm: true, kvmIntel: false, kvmAmd: false, kvmPvm: true },
    cpuFlags: { vmx: false, svm: false, hypervisor: true },
    kind: 'software-pvm',
    apiOk: true,
    meaning: 'software KVM (PVM)',
  },
  qemu: { binary: '/usr/bin/qemu-system-x86_64' },
  guestKernel: { installed: true, path: '/d/kernels/vmlinuz', version: '6.1.0-cloud' },
  engines: [
    { engine: 'container', usable: true, fullLinux: true, why: 'all there' },
    { engine: 'kvm', usable: true, fullLinux: false, why: 'software PVM: small guests only' },
    { engine: 'qemu', usable: true, fullLinux: true, accel: 'tcg', why: '-accel tcg' },
  ],
  explanation: ['OS-level virtualization (containers): usable here.', 'Compiled emulation (QEMU TCG): usable here.'],
};

/** A finished result: container and QEMU measured, the KVM addon unavailable. */
export function fixtureResult(opts: { qemuStdout?: string; workload?: boolean } = {}): CompareResult {
  const plans = planModes(['container', 'kvm', 'qemu'], {
    engines: HOST.engines,
    vmRunBuilt: true,
    guestKernelInstalled: true,
  });
  const modes: ModeResult[] = plans.map((plan) => ({
    plan,
    status: plan.available ? 'measured' : 'unavailable',
    samples: [],
  }));
  const [c, , q] = modes;
  const wl = (ns: number): string => `workload syscall iterations=1000 ns_per_op=${ns} total_ns=${ns * 1000}\n`;
  c!.samples = opts.workload
    ? [300, 320, 310].map((w, i) => sample(w, 1500, wl(200 + i), 100, phasesOf(w, 20 + i)))
    : [sample(300, 1500), sample(320, 1500), sample(310, 1600)];
  c!.prep = { what: 'layer unpack', ms: 40, method: 'x' };
  c!.argv = ['run', '--rm', '--network', 'none', 'demo', 'echo', 'hello'];
  c!.isolation = {
    kernelRelease: '6.18.44-test',
    pid1: 'echo',
    cpus: 2,
    memTotalKiB: 24_000_000,
    bootId: 'aaaa',
    sharesHostKernel: true,
    syscallPath: 'host-kernel',
    syscallPathText: 'workload → host kernel → hardware (one shared kernel)',
  };
  const qs = opts.qemuStdout ?? 'hello\n';
  q!.samples = opts.workload
    ? [3000, 3300, 3100].map((w, i) => sample(w, 250000, wl(2000 + i), 3000, phasesOf(w, 200 + i, true)))
    : [sample(3000, 250000, qs, 2900), sample(3300, 251000, qs, 3100), sample(3100, 249000, qs, 3000)];
  q!.prep = { what: 'initramfs build', ms: 120, method: 'y' };
  q!.argv = ['vm', 'run', '--engine', 'qemu', 'demo', 'echo', 'hello'];
  q!.isolation = {
    kernelRelease: '6.1.0-cloud',
    pid1: 'init',
    cpus: 1,
    memTotalKiB: 230_000,
    bootId: 'bbbb',
    sharesHostKernel: false,
    syscallPath: 'guest-kernel-tcg',
    syscallPathText: 'workload → guest kernel → QEMU TCG → host kernel → hardware',
  };
  const identical = finishModes(modes);
  const outputIdentical = opts.workload ? undefined : identical;
  return {
    version: 1,
    date: '2026-11-25T13:00:00.000Z',
    image: 'demo',
    command: opts.workload ? ['/.tvctl-workload', 'syscall', '-n', '1000'] : ['echo', 'hello'],
    runs: 3,
    warmups: 1,
    ...(opts.workload ? { workload: { preset: 'syscall', iterations: 1000, what: 'getppid() system call' } } : {}),
    method: {
      spawn: 's',
      wall: 'w',
      phases: 'ph',
      workload: 'wl',
      memory: 'm',
      cpu: 'c',
      prep: 'p',
      isolation: 'i',
      output: 'o',
    },
    host: HOST,
    hostProbe: { kernelRelease: '6.18.44-test', pid1: 'systemd', cpus: 2, memTotalKiB: 24_000_000, bootId: 'aaaa' },
    modes,
    outputIdentical,
  };
}
