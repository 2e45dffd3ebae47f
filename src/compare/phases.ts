/**
 * Where a mode's start → exit time goes: getting to the workload's first instruction (boot), the workload
 * itself (work), and the way out (teardown). Pure: the parsers of the two lines the modes print, the phase
 * arithmetic, the workload presets and the order of the rungs.
 *
 * The work is timed inside the mode: with TVCTL_WORK_TIMES=1 in the command's environment, tvinit (containers)
 * and the guest init (VMs) stamp CLOCK_MONOTONIC just before the command's execve and when it is reaped, and
 * write `@@tvctl-work:<start ns>:<end ns>@@` as the last line of the command's stderr (native/tvinit/README.md).
 */
import { WORKLOAD_PATH } from '../vm/guest-protocol.js';

/** In the command's env (via -e): asks the mode's init for the work-times line; the inits strip it. */
export const WORK_TIMES_ENV = 'TVCTL_WORK_TIMES=1';

const WORK_LINE = /\n?@@tvctl-work:(\d+):(\d+)@@\n?/g;

export interface WorkTimes {
  /** the mode's CLOCK_MONOTONIC, ns (a container's is the host's; a VM's is the guest's) */
  startNs: bigint;
  endNs: bigint;
  /** stderr without the line */
  stderr: string;
  /** offset in the original stderr just past the line (to find when it arrived) */
  endOffset: number;
}

/** The last work-times line on stderr (a command could print one of its own earlier), and stderr without it. */
export function parseWorkTimes(stderr: string): WorkTimes | undefined {
  let last: RegExpExecArray | undefined;
  for (const m of stderr.matchAll(WORK_LINE)) last = m as RegExpExecArray;
  if (!last) return undefined;
  const startNs = BigInt(last[1]!);
  const endNs = BigInt(last[2]!);
  if (endNs < startNs) return undefined;
  const endOffset = last.index + last[0].length;
  return { startNs, endNs, stderr: stderr.slice(0, last.index) + stderr.slice(endOffset), endOffset };
}

export interface PhaseInput {
  /** host CLOCK_MONOTONIC (process.hrtime.bigint()) at the spawn of the tvctl CLI and when it had exited */
  spawnNs: bigint;
  exitNs: bigint;
  work?: { startNs: bigint; endNs: bigint };
  /** host CLOCK_MONOTONIC when the work-times line arrived on the CLI's stderr */
  lineAtNs?: bigint;
  /** the mode's clock is the host's (a container: no time namespace), so its stamps place on ours */
  sameClock: boolean;
}

/** How a phase was obtained: on the host's clock, in the mode's clock, or as the remainder of the others. */
export type PhaseHow = 'host clock' | 'mode clock' | 'derived';

export interface Phases {
  totalMs: number;
  /** spawn → the command's execve */
  bootMs?: number;
  /** execve → reaped, in the mode's own clock */
  workMs?: number;
  /** reaped → the tvctl CLI exited on the host */
  teardownMs?: number;
  how: { boot?: PhaseHow; work?: PhaseHow; teardown?: PhaseHow };
}

const ms = (ns: bigint): number => Number(ns) / 1e6;

/**
 * Containers: all three on the host clock (boot = execve stamp − spawn, teardown = exit − end stamp). VMs: work
 * in the guest clock; teardown from the line's arrival to the exit (host clock; the line is written after the
 * work ends, so this slightly under-counts it by the time the line takes to reach us); boot = the remainder.
 * When a container's stamps do not fall inside the run (they always should), it is treated like a VM.
 */
export function computePhases(inp: PhaseInput): Phases {
  const totalMs = ms(inp.exitNs - inp.spawnNs);
  const p: Phases = { totalMs, how: {} };
  if (!inp.work) return p;
  const { startNs, endNs } = inp.work;
  p.workMs = ms(endNs - startNs);
  p.how.work = inp.sameClock ? 'host clock' : 'mode clock';
  if (inp.sameClock && startNs >= inp.spawnNs && endNs <= inp.exitNs) {
    p.bootMs = ms(startNs - inp.spawnNs);
    p.teardownMs = ms(inp.exitNs - endNs);
    p.how.boot = 'host clock';
    p.how.teardown = 'host clock';
    return p;
  }
  if (inp.lineAtNs !== undefined && inp.lineAtNs <= inp.exitNs) {
    p.teardownMs = ms(inp.exitNs - inp.lineAtNs);
    p.how.teardown = 'host clock';
    p.bootMs = totalMs - p.workMs - p.teardownMs;
    p.how.boot = 'derived';
  }
  return p;
}

export const WORKLOAD_PRESETS = ['syscall', 'fork', 'cpu', 'memory', 'file'] as const;
export type WorkloadPreset = (typeof WORKLOAD_PRESETS)[number];

/** Iterations on a container or a hardware-assisted VM (native/workload's own defaults). */
export const DEFAULT_ITERATIONS: Record<WorkloadPreset, number> = {
  syscall: 1_000_000,
  fork: 200,
  cpu: 100_000_000,
  memory: 20_000,
  file: 2_000,
};

/** What one operation is, for the reports. */
export const PRESET_WHAT: Record<WorkloadPreset, string> = {
  syscall: 'getppid() system call',
  fork: 'fork + exec + wait',
  cpu: 'integer xorshift step',
  memory: 'first touch of a fresh page',
  file: '4 KiB pwrite + fsync + pread (tmpfs)',
};

export interface WorkloadLine {
  preset: string;
  iterations: number;
  nsPerOp: number;
  totalNs?: number;
}

/** `workload syscall iterations=N ns_per_op=X total_ns=T` (the last such line on stdout). */
export function parseWorkloadLine(stdout: string): WorkloadLine | undefined {
  const re = /^workload ([a-z]+) iterations=(\d+) ns_per_op=(\d+(?:\.\d+)?)(?: total_ns=(\d+))?$/gm;
  let last: RegExpExecArray | undefined;
  for (const m of stdout.matchAll(re)) last = m as RegExpExecArray;
  if (!last) return undefined;
  const line: WorkloadLine = { preset: last[1]!, iterations: Number(last[2]), nsPerOp: Number(last[3]) };
  if (last[4] !== undefined) line.totalNs = Number(last[4]);
  return line;
}

/** The rungs of the ladder, slowest first: the order of every table and chart. */
export const RUNG_ORDER = [
  'interpreted emulation',
  'compiled emulation',
  'hardware-assisted virtualization',
  'OS-level virtualization',
] as const;

export function rungRank(kind: string): number {
  const i = (RUNG_ORDER as readonly string[]).indexOf(kind);
  return i < 0 ? RUNG_ORDER.length : i;
}

/** Stable: modes sorted interpreted → compiled → hardware-assisted → container. */
export function byRung<T extends { plan: { kind: string } }>(modes: readonly T[]): T[] {
  return modes
    .map((m, i) => ({ m, i }))
    .sort((a, b) => rungRank(a.m.plan.kind) - rungRank(b.m.plan.kind) || a.i - b.i)
    .map((x) => x.m);
}

/**
 * Emulated rungs run fewer iterations (÷10 compiled, ÷100 interpreted) so a workload takes seconds there too;
 * ns/op stays comparable.
 */
export function iterationsFor(kind: string, base: number): number {
  const div = kind === 'interpreted emulation' ? 100 : kind === 'compiled emulation' ? 10 : 1;
  return Math.max(1, Math.round(base / div));
}

export function workloadCommand(preset: WorkloadPreset, iterations: number): string[] {
  return [WORKLOAD_PATH, preset, '-n', String(iterations)];
}
