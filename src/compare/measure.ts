/**
 * One measured run: start a tvctl command line (the CLI a user would type, so the figures include what a user
 * waits for), sample its process tree's memory while it runs, and take wall time and children CPU time.
 * The child is started with startCommand (not runCommand) because the sampler needs its pid while it runs.
 */
import { readText, startCommand } from '../util/exec.js';
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
  stderr: string;
}

export interface MeasureOptions {
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** process tree sampling period, ms */
  sampleEveryMs?: number;
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
  const output = Promise.all([readText(child.pipe(1)), readText(child.pipe(2))]);
  const sampler = child.pid !== undefined ? new ProcessTreeSampler(child.pid) : undefined;
  sampler?.sample();
  const timer = setInterval(() => sampler?.sample(), every);
  let r;
  try {
    r = await child.exited;
  } finally {
    clearInterval(timer);
  }
  const [stdout, stderr] = await output;
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
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
    stderr,
  };
}
