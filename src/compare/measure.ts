/**
 * One measured run: start a tvctl command line (the CLI a user would type, so the figures include what a user
 * waits for), sample its process tree's memory while it runs, and take wall time and children CPU time.
 * The child is started with startCommand (not runCommand) because the sampler needs its pid while it runs.
 */
import type { Readable } from 'node:stream';
import { readText, startCommand } from '../util/exec.js';
import { computePhases, parseWorkTimes, type Phases } from './phases.js';
import { childrenCpuMs, memoryCost, ProcessTreeSampler, type ProcessPeak } from './proctree.js';

export interface RunSample {
  /** start → exit, ms */
  wallMs: number;
  /** user / system CPU of the whole tree (tvctl, its supervisor or VMM, the workload), ms */
  cpuUserMs: number;
  cpuSysMs: number;
  /** sum of per-process peak RSS (KiB): total, the tvctl process itself, and what it started */
  memTotalKiB: number;
  memCliKiB: number;
  memStartedKiB: number;
  processes: ProcessPeak[];
  memorySamples: number;
  exitCode: number;
  stdout: string;
  /** without the mode's work-times line */
  stderr: string;
  /** boot / work / teardown, when the mode reported its work times */
  phases: Phases;
}

export interface MeasureOptions {
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** process tree sampling period, ms */
  sampleEveryMs?: number;
  /** the mode's CLOCK_MONOTONIC is the host's (containers), so its work stamps place on our clock */
  sameClock?: boolean;
}

/** Text of a stream, with the host time (process.hrtime.bigint()) at which each chunk arrived. */
function readTimedText(s: Readable | undefined): Promise<{ text: string; arrivals: { end: number; at: bigint }[] }> {
  return new Promise((resolve) => {
    let text = '';
    const arrivals: { end: number; at: bigint }[] = [];
    if (!s) return resolve({ text, arrivals });
    s.setEncoding('utf8');
    s.on('data', (c: string) => {
      text += c;
      arrivals.push({ end: text.length, at: process.hrtime.bigint() });
    });
    s.on('error', () => resolve({ text, arrivals }));
    s.on('close', () => resolve({ text, arrivals }));
  });
}

export async function measureRun(file: string, args: readonly string[], opts: MeasureOptions = {}): Promise<RunSample> {
  const every = opts.sampleEveryMs ?? 5;
  const cpu0 = childrenCpuMs();
  const t0 = process.hrtime.bigint();
  const child = startCommand(
    { file, args },
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(opts.env ? { env: opts.env } : {}),
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    },
  );
  const output = Promise.all([readText(child.pipe(1)), readTimedText(child.pipe(2))]);
  const sampler = child.pid !== undefined ? new ProcessTreeSampler(child.pid) : undefined;
  sampler?.sample();
  const timer = setInterval(() => sampler?.sample(), every);
  let r;
  try {
    r = await child.exited;
  } finally {
    clearInterval(timer);
  }
  const [stdout, err] = await output;
  const t1 = process.hrtime.bigint();
  const wallMs = Number(t1 - t0) / 1e6;
  const work = parseWorkTimes(err.text);
  const lineAt = work ? err.arrivals.find((a) => a.end >= work.endOffset)?.at : undefined;
  const phases = computePhases({
    spawnNs: t0,
    exitNs: t1,
    ...(work ? { work } : {}),
    ...(lineAt !== undefined ? { lineAtNs: lineAt } : {}),
    sameClock: opts.sameClock ?? false,
  });
  const cpu1 = childrenCpuMs();
  const processes = sampler?.result() ?? [];
  const mem = memoryCost(processes);
  return {
    wallMs,
    cpuUserMs: cpu1.userMs - cpu0.userMs,
    cpuSysMs: cpu1.sysMs - cpu0.sysMs,
    memTotalKiB: mem.totalKiB,
    memCliKiB: mem.cliKiB,
    memStartedKiB: mem.startedKiB,
    processes,
    memorySamples: sampler?.samples ?? 0,
    exitCode: r.exitCode ?? (r.signal ? 128 : 1),
    stdout,
    stderr: work ? work.stderr : err.text,
    phases,
  };
}
