/**
 * One measured run: start a tvctl command line (the CLI a user would type, so the figures include what a user
 * waits for), sample its process tree's memory while it runs, and take wall time and children CPU time.
 * This is the one place compare spawns processes; it uses execa like src/util/exec.ts, but needs the pid
 * while the child runs, which runCommand does not expose.
 */
import { execa } from 'execa';
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
  const child = execa(file, [...args], {
    reject: false,
    shell: false,
    stdin: 'ignore',
    stripFinalNewline: false,
    ...(opts.env ? { env: opts.env, extendEnv: false } : {}),
    ...(opts.timeoutMs !== undefined ? { timeout: opts.timeoutMs } : {}),
  });
  const sampler = child.pid !== undefined ? new ProcessTreeSampler(child.pid) : undefined;
  sampler?.sample();
  const timer = setInterval(() => sampler?.sample(), every);
  let r;
  try {
    r = await child;
  } finally {
    clearInterval(timer);
  }
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
    stdout: String(r.stdout ?? ''),
    stderr: String(r.stderr ?? ''),
  };
}
