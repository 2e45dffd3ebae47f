/**
 * The QEMU engine: `qemu-system-x86_64 -M microvm` with three 8250 UARTs (the cloud kernel has virtio only
 * as modules): ttyS0 = kernel console + the guest init's markers, ttyS1 = the command's stdout, ttyS2 = its
 * stderr. Each UART's chardev is a socket fd QEMU inherits (Node's stdio pipes are socketpairs), so the three
 * streams never mix. The argv is built by a pure function; `runQemu` spawns it and follows the markers.
 */
// The cache checks run before every VM start: small synchronous reads, no thread-pool round trips.
import { promises as fsp, readFileSync, statSync } from 'node:fs';
import { writeFileAtomic } from '../util/atomic-write.js';
import { join } from 'node:path';
import { TvctlError, errorMessage } from '../errors.js';
import { GuestConsoleMonitor, type GuestRunIO, type GuestRunResult } from './guest-protocol.js';
import { findOnPath } from './probe.js';
import { startCommand } from '../util/exec.js';
import { trace } from '../util/trace.js';

export const QEMU_BINARY = 'qemu-system-x86_64';
export type QemuAccel = 'kvm' | 'tcg';

export interface QemuSpec {
  binary: string;
  accel: QemuAccel;
  kernel: string;
  initrd: string;
  cmdline: string;
  memoryMiB: number;
  cpus: number;
  /** fds (in QEMU's fd table) for the console, stdout and stderr UARTs */
  consoleFd: number;
  stdoutFd: number;
  stderrFd: number;
}

/** The I/O ports and IRQs of the UARTs, as Linux's legacy table and ACPI (microvm's DSDT) describe them. */
export const UARTS = [
  { tty: 'ttyS0', iobase: 0x3f8, irq: 4 },
  { tty: 'ttyS1', iobase: 0x2f8, irq: 3 },
  // COM3's legacy IRQ 4 would be shared with ttyS0; QEMU cannot share an ISA line, so IRQ 5 (announced by ACPI).
  { tty: 'ttyS2', iobase: 0x3e8, irq: 5 },
] as const;

export function buildQemuArgv(spec: QemuSpec): string[] {
  if (/[\n]/.test(spec.cmdline)) throw new TvctlError('VM_BAD_CMDLINE', 'kernel command line must be one line');
  const [c0, c1, c2] = UARTS;
  return [
    '-M',
    'microvm,isa-serial=off,x-option-roms=off',
    '-accel',
    spec.accel,
    ...(spec.accel === 'kvm' ? ['-cpu', 'host'] : []),
    '-m',
    `${spec.memoryMiB}M`,
    '-smp',
    String(spec.cpus),
    '-nodefaults',
    '-no-user-config',
    '-nographic',
    '-no-reboot',
    '-kernel',
    spec.kernel,
    '-initrd',
    spec.initrd,
    '-append',
    spec.cmdline,
    '-chardev',
    `socket,id=con,fd=${spec.consoleFd}`,
    '-device',
    `isa-serial,chardev=con,iobase=0x${c0.iobase.toString(16)},irq=${c0.irq}`,
    '-chardev',
    `socket,id=out,fd=${spec.stdoutFd}`,
    '-device',
    `isa-serial,chardev=out,iobase=0x${c1.iobase.toString(16)},irq=${c1.irq}`,
    '-chardev',
    `socket,id=err,fd=${spec.stderrFd}`,
    '-device',
    `isa-serial,chardev=err,iobase=0x${c2.iobase.toString(16)},irq=${c2.irq}`,
  ];
}

export async function runQemu(
  spec: Omit<QemuSpec, 'consoleFd' | 'stdoutFd' | 'stderrFd'>,
  nonce: string,
  io: GuestRunIO,
  opts: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<GuestRunResult> {
  const argv = buildQemuArgv({ ...spec, consoleFd: 3, stdoutFd: 4, stderrFd: 5 });
  const t0 = performance.now();
  const monitor = new GuestConsoleMonitor(nonce, io, t0);
  const result = monitor.result;
  // startCommand (not runCommand): QEMU needs three extra pipes and streaming, not a buffered result.
  trace('vm: spawning QEMU');
  const child = startCommand(
    { file: spec.binary, args: argv },
    {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
      ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    },
  );
  void child.spawned.then(() => trace('vm: QEMU running'));
  const [errStream, conStream, outStream, stderrStream] = [2, 3, 4, 5].map((fd) => child.pipe(fd));
  errStream?.on('data', (b: Buffer) => {
    if (result.vmmStderr.length < 8192) result.vmmStderr += b.toString();
  });
  // The exit (or fail) marker is the guest's last word, and it comes after the guest init drained its
  // stdout/stderr UARTs (tcdrain), so QEMU had already written every byte of the command's output to its
  // sockets. The guest's ACPI power-off and QEMU's own teardown add nothing the user waits for: stop QEMU
  // now and read the sockets to their end.
  conStream?.on('data', (b: Buffer) => {
    if (monitor.console(b).some((m) => m.kind !== 'init')) child.kill('SIGKILL');
  });
  outStream?.on('data', io.onStdout);
  stderrStream?.on('data', io.onStderr);
  const ended = (s: NodeJS.ReadableStream | undefined): Promise<void> =>
    s ? new Promise((resolve) => s.once('close', () => resolve())) : Promise.resolve();
  const drained = Promise.all([ended(conStream), ended(outStream), ended(stderrStream)]);
  const r = await child.exited;
  await drained;
  monitor.end();
  // Killed by us after the last marker: that is the normal end of a run, not a QEMU failure.
  result.vmmExitCode = result.status !== undefined || result.failure !== undefined ? 0 : r.exitCode;
  if (r.notFound) {
    throw new TvctlError('QEMU_NOT_FOUND', `${spec.binary}: not installed; apt-get install qemu-system-x86`);
  }
  return result;
}

/** One line from QEMU's stderr that explains a failure. */
export function qemuFailureLine(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const interesting = lines.find((l) => /error|failed|cannot|could not|internal/i.test(l));
  return interesting ?? lines[0] ?? 'no output';
}

export function findQemu(path?: string): string {
  const bin = findOnPath(QEMU_BINARY, path);
  if (!bin) {
    throw new TvctlError(
      'QEMU_NOT_FOUND',
      `${QEMU_BINARY} is not installed (or not on PATH); apt-get install qemu-system-x86`,
    );
  }
  return bin;
}

// ---------------------------------------------------------------------------------------------------------
// Accelerator probe: does `-accel kvm` boot a full Linux guest here, and is it faster than TCG? Decided by
// booting the real kernel once per (QEMU, kernel, host kernel, /dev/kvm) and cached; never by a guess.

export interface AccelProbeResult {
  key: string;
  accel: QemuAccel;
  tcgMs?: number;
  kvmMs?: number;
  why: string;
  probedAt: string;
}

export async function accelProbeKey(binary: string, kernel: string): Promise<string> {
  const parts: string[] = [];
  for (const f of [binary, kernel, '/dev/kvm']) {
    try {
      const st = statSync(f);
      parts.push(`${f}:${st.size}:${Math.floor(st.mtimeMs)}:${st.rdev}`);
    } catch {
      parts.push(`${f}:absent`);
    }
  }
  try {
    parts.push(readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim());
  } catch {
    // not Linux /proc
  }
  return parts.join('|');
}

export async function readAccelProbe(file: string, key: string): Promise<AccelProbeResult | undefined> {
  try {
    const r = JSON.parse(readFileSync(file, 'utf8')) as AccelProbeResult;
    return r.key === key ? r : undefined;
  } catch {
    return undefined;
  }
}

export async function writeAccelProbe(file: string, r: AccelProbeResult): Promise<void> {
  await fsp.mkdir(join(file, '..'), { recursive: true });
  await writeFileAtomic(file, JSON.stringify(r, null, 1) + '\n', 0o644);
}

export function describeProbeFailure(r: GuestRunResult, timeoutMs: number): string {
  if (r.status !== undefined) return 'ok';
  if (r.failure) return `the guest init failed: ${r.failure}`;
  if (r.hostEndMs >= timeoutMs - 50) return `no guest userspace within ${Math.round(timeoutMs / 1000)} s`;
  return `QEMU stopped before the guest reached userspace: ${qemuFailureLine(r.vmmStderr)}`;
}

export { errorMessage };
