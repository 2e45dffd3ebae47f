/**
 * The isolation table is built from facts measured inside each mode: a probe script runs in the workload's
 * place and prints labelled lines; the host side reads the same files directly. The interpretation is pure.
 */

/** What one probe reports (undefined: the image lacks the tool or the file). */
export interface IsolationProbe {
  kernelRelease?: string;
  pid1?: string;
  cpus?: number;
  memTotalKiB?: number;
  bootId?: string;
  hostname?: string;
}

export type SyscallPath =
  'host-kernel' | 'guest-kernel-kvm' | 'guest-kernel-tcg' | 'guest-kernel-interpreted' | 'unknown';

export interface IsolationFacts extends IsolationProbe {
  /** same kernel release and same boot id as the host: the host kernel serves the workload's system calls */
  sharesHostKernel: boolean | undefined;
  syscallPath: SyscallPath;
  /** one phrase for the table */
  syscallPathText: string;
}

/**
 * A POSIX sh script (busybox is enough) run as `sh -c SCRIPT` inside each mode. Every line is `@tv:key=value`
 * so kernel or runtime noise around it cannot be mistaken for a fact.
 */
export const PROBE_SCRIPT = [
  'echo "@tv:kernel=$(uname -r 2>/dev/null || cat /proc/sys/kernel/osrelease 2>/dev/null)"',
  'echo "@tv:pid1=$(cat /proc/1/comm 2>/dev/null)"',
  'echo "@tv:cpus=$(nproc 2>/dev/null || grep -c ^processor /proc/cpuinfo 2>/dev/null)"',
  'echo "@tv:memtotal=$(grep MemTotal /proc/meminfo 2>/dev/null)"',
  'echo "@tv:bootid=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)"',
  'echo "@tv:hostname=$(hostname 2>/dev/null || cat /proc/sys/kernel/hostname 2>/dev/null)"',
].join('; ');

export function probeCommand(): string[] {
  return ['sh', '-c', PROBE_SCRIPT];
}

/** Parses the probe's output; unknown or empty values stay undefined. */
export function parseProbeOutput(out: string): IsolationProbe {
  const kv = new Map<string, string>();
  for (const raw of out.split('\n')) {
    const line = raw.replace(/\r$/, '');
    const m = /@tv:([a-z0-9]+)=(.*)$/.exec(line);
    if (m) kv.set(m[1]!, m[2]!.trim());
  }
  const p: IsolationProbe = {};
  const s = (k: string): string | undefined => {
    const v = kv.get(k);
    return v === undefined || v === '' ? undefined : v;
  };
  const kernel = s('kernel');
  if (kernel) p.kernelRelease = kernel;
  const pid1 = s('pid1');
  if (pid1) p.pid1 = pid1;
  const cpus = Number.parseInt(s('cpus') ?? '', 10);
  if (Number.isFinite(cpus) && cpus > 0) p.cpus = cpus;
  const mem = /(\d+)/.exec(s('memtotal') ?? '');
  if (mem) p.memTotalKiB = Number(mem[1]);
  const boot = s('bootid');
  if (boot) p.bootId = boot;
  const host = s('hostname');
  if (host) p.hostname = host;
  return p;
}

/** Reads /proc/meminfo's MemTotal in KiB. */
export function parseMemTotal(meminfo: string): number | undefined {
  const m = /^MemTotal:\s+(\d+)\s*kB/m.exec(meminfo);
  return m ? Number(m[1]) : undefined;
}

/**
 * Pure: from what the workload saw vs the host, how its system calls reach the hardware. Same kernel release
 * and boot id → the host kernel itself; otherwise a guest kernel, below which sits either KVM (the CPU runs
 * guest code, the hypervisor handles exits), QEMU's TCG (guest code translated to host code) or Bochs
 * (each guest instruction interpreted).
 */
export function deriveIsolation(
  inside: IsolationProbe,
  host: IsolationProbe,
  accel: 'kvm' | 'tcg' | 'interpreted' | undefined,
): IsolationFacts {
  let shares: boolean | undefined;
  if (
    inside.kernelRelease !== undefined &&
    host.kernelRelease !== undefined &&
    inside.bootId !== undefined &&
    host.bootId !== undefined
  ) {
    shares = inside.kernelRelease === host.kernelRelease && inside.bootId === host.bootId;
  } else if (inside.bootId !== undefined && host.bootId !== undefined) {
    shares = inside.bootId === host.bootId;
  } else if (
    inside.kernelRelease !== undefined &&
    host.kernelRelease !== undefined &&
    inside.kernelRelease !== host.kernelRelease
  ) {
    shares = false;
  }
  let path: SyscallPath;
  let text: string;
  if (shares === true) {
    path = 'host-kernel';
    text = 'workload → host kernel → hardware (one shared kernel)';
  } else if (shares === false && accel === 'kvm') {
    path = 'guest-kernel-kvm';
    text = 'workload → guest kernel → KVM hypervisor (VT-x/AMD-V) → hardware';
  } else if (shares === false && accel === 'tcg') {
    path = 'guest-kernel-tcg';
    text = 'workload → guest kernel → QEMU TCG (guest code translated to host code) → host kernel → hardware';
  } else if (shares === false && accel === 'interpreted') {
    path = 'guest-kernel-interpreted';
    text = 'workload → guest kernel → Bochs (each guest instruction interpreted) → host kernel → hardware';
  } else {
    path = 'unknown';
    text = 'unknown (the probe could not read the kernel release or boot id)';
  }
  return { ...inside, sharesHostKernel: shares, syscallPath: path, syscallPathText: text };
}
