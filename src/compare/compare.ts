/**
 * `tvctl compare`: the same image and command in each mode (container, VM through the KVM addon, VM through
 * QEMU), measured the same way: the tvctl CLI is spawned exactly as a user would type it (so every mode pays
 * the same Node start and the figures are what a user waits for), one warm-up, then N runs interleaved
 * across modes so slow drift of the machine hits every mode alike.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { availableParallelism, hostname, release } from 'node:os';
import type { HostFacts } from '../host/facts.js';
import type { Roots } from '../paths.js';
import {
  deriveIsolation,
  parseMemTotal,
  probeCommand,
  parseProbeOutput,
  type IsolationFacts,
  type IsolationProbe,
} from './isolation.js';
import { WORKLOAD_PATH } from '../vm/guest-protocol.js';
import { measureRun, type RunSample } from './measure.js';
import type { ModeId, ModePlan } from './modes.js';
import {
  PRESET_WHAT,
  WORK_TIMES_ENV,
  iterationsFor,
  parseWorkloadLine,
  workloadCommand,
  type Phases,
  type WorkloadPreset,
} from './phases.js';
import type { PrepMeasurement } from './prep.js';
import { ratio, summarize, type Summary } from './stats.js';

export interface ModeOutput {
  /** stdout of the first measured run */
  stdout: string;
  sha256: string;
  exitCode: number;
  /** every measured run printed the same bytes and exited the same way */
  consistent: boolean;
}

export interface ModeResult {
  plan: ModePlan;
  status: 'measured' | 'unavailable' | 'failed';
  error?: string;
  /** the full tvctl argv of a measured run */
  argv?: string[];
  prep?: PrepMeasurement;
  prepError?: string;
  warmup?: RunSample;
  samples: RunSample[];
  wallMs?: Summary;
  cpuMs?: Summary;
  cpuUserMs?: Summary;
  cpuSysMs?: Summary;
  memKiB?: Summary;
  memCliKiB?: Summary;
  memStartedKiB?: Summary;
  /** spawn → the command's execve; the command itself (in the mode's clock); reaped → exit (see phases.ts) */
  bootMs?: Summary;
  workMs?: Summary;
  teardownMs?: Summary;
  /** how each phase was obtained (the first measured run's; every run of a mode gets them the same way) */
  phaseHow?: Phases['how'];
  /** runs that did not report their work times (the phases summarise only those that did) */
  phaseMissing?: number;
  workload?: { preset: string; iterations: number; nsPerOp: Summary };
  workloadError?: string;
  output?: ModeOutput;
  isolation?: IsolationFacts;
  isolationError?: string;
  /** median vs the container's median */
  ratios?: { wall?: number; cpu?: number; memory?: number; prep?: number; work?: number; nsPerOp?: number };
}

export interface WorkloadSpec {
  preset: WorkloadPreset;
  /** on a container or hardware-assisted VM; emulated rungs run fewer (iterationsFor) */
  iterations: number;
}

export interface CompareResult {
  version: 1;
  date: string;
  image: string;
  command: string[];
  runs: number;
  warmups: number;
  /** the --workload preset, when one ran instead of a command */
  workload?: WorkloadSpec & { what: string };
  method: Record<'spawn' | 'wall' | 'phases' | 'workload' | 'memory' | 'cpu' | 'prep' | 'isolation' | 'output', string>;
  host: HostFacts;
  /** the same probe facts read on the host itself */
  hostProbe: IsolationProbe;
  modes: ModeResult[];
  /** every measured mode printed the same bytes; undefined when fewer than two modes were measured or a
   * workload ran (its line carries its own timings) */
  outputIdentical: boolean | undefined;
}

export interface CompareOptions {
  image: string;
  command: string[];
  runs: number;
  plans: ModePlan[];
  roots: Roots;
  /** bin/tvctl of this package */
  tvctlBin: string;
  /** run a workload preset instead of `command` */
  workload?: WorkloadSpec;
  /** the host's tvctl-workload binary (bound read-only into containers; VMs have it in the initramfs) */
  workloadBin?: string;
  host: HostFacts;
  /** one-time preparation measurements per mode */
  prepare?: Partial<Record<ModeId, () => Promise<PrepMeasurement>>>;
  onProgress?: (msg: string) => void;
  timeoutMs?: Partial<Record<ModeId, number>>;
}

export const METHOD: CompareResult['method'] = {
  spawn:
    'each run spawns the tvctl CLI (bin/tvctl) as a user would type it, with stdin closed; every mode pays the same CLI start',
  wall: 'start → exit of that tvctl process (process.hrtime), one warm-up run per mode first, then N runs interleaved across modes',
  phases:
    "every run passes -e TVCTL_WORK_TIMES=1: the mode's init (tvinit for containers, the guest init for VMs) stamps CLOCK_MONOTONIC just before the command's execve and when it is reaped and writes both as the last stderr line. " +
    "work = end − start in the mode's own clock (a container's is the host's; a VM's is the guest's, which under emulation is the emulated clock, not host time). " +
    'Containers: boot = start − spawn and teardown = exit − end, both measured on the host clock. ' +
    'VMs: teardown = exit − arrival of that stderr line (host clock), boot = total − work − teardown (derived)',
  workload:
    'native/workload (a freestanding static binary at /.tvctl-workload: bound read-only into containers, in the initramfs of VMs) times N operations with CLOCK_MONOTONIC inside the mode and prints ns/op; ' +
    'compiled emulation runs N/10 and interpreted emulation N/100 operations',
  memory:
    "sum over the tvctl process tree of each process's peak RSS (VmHWM from /proc/<pid>/status, sampled every 5 ms while it runs; " +
    'the tree is walked through /proc/<pid>/task/*/children): "cli" is the tvctl Node process, "started" everything it started ' +
    '(supervisor and workload, or QEMU whose RSS includes the guest RAM it touched)',
  cpu: "user+sys CPU of the whole reaped process tree: the change in this process's cutime/cstime (/proc/self/stat, getrusage children) across the run; 10 ms resolution",
  prep: 'the one-time work each mode needs before its first start, redone into a scratch dir and timed (layer unpack for containers, initramfs build for VMs)',
  isolation:
    'a probe script (uname -r, /proc/1/comm, nproc, MemTotal, boot_id, hostname) runs as the workload in each mode; the host reads the same facts directly',
  output:
    'stdout of every measured run compared byte for byte within and across modes (not for a workload, whose line carries its own timings)',
};

export function readHostProbe(): IsolationProbe {
  const p: IsolationProbe = { kernelRelease: release(), cpus: availableParallelism(), hostname: hostname() };
  try {
    const v = readFileSync('/proc/1/comm', 'utf8').trim();
    if (v) p.pid1 = v;
  } catch {
    // not readable
  }
  try {
    const m = parseMemTotal(readFileSync('/proc/meminfo', 'utf8'));
    if (m !== undefined) p.memTotalKiB = m;
  } catch {
    // not readable
  }
  try {
    p.bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    // not readable
  }
  return p;
}

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** A run that tvctl itself could not do (as opposed to a workload exiting non-zero): exit 125 with "tvctl:". */
export function isTvctlFailure(s: Pick<RunSample, 'exitCode' | 'stderr'>): boolean {
  return s.exitCode === 125 && /(^|\n)tvctl: /.test(s.stderr);
}

export function lastLine(s: string): string {
  return s.trim().split('\n').filter(Boolean).pop() ?? '';
}

/** Pure: the phase summaries of a mode's runs, and its workload's ns/op when its runs printed the line. */
export function summarizePhases(m: ModeResult): void {
  const s = m.samples;
  const withWork = s.filter((x) => x.phases.workMs !== undefined);
  if (withWork.length < s.length) m.phaseMissing = s.length - withWork.length;
  const pick = (k: 'bootMs' | 'workMs' | 'teardownMs'): Summary | undefined => {
    const xs = withWork.map((x) => x.phases[k]).filter((v): v is number => v !== undefined);
    return xs.length ? summarize(xs) : undefined;
  };
  const boot = pick('bootMs');
  const work = pick('workMs');
  const teardown = pick('teardownMs');
  if (boot) m.bootMs = boot;
  if (work) m.workMs = work;
  if (teardown) m.teardownMs = teardown;
  if (withWork[0]) m.phaseHow = withWork[0].phases.how;
  const lines = s.map((x) => parseWorkloadLine(x.stdout));
  const ok = lines.filter((l) => l !== undefined);
  if (ok.length && ok.length === s.length) {
    m.workload = { preset: ok[0]!.preset, iterations: ok[0]!.iterations, nsPerOp: summarize(ok.map((l) => l.nsPerOp)) };
  }
}

/** Pure: summaries, output consistency and ratios from the raw samples. */
export function finishModes(modes: ModeResult[]): boolean | undefined {
  for (const m of modes) {
    if (m.status !== 'measured' || m.samples.length === 0) continue;
    const s = m.samples;
    m.wallMs = summarize(s.map((x) => x.wallMs));
    m.cpuMs = summarize(s.map((x) => x.cpuUserMs + x.cpuSysMs));
    m.cpuUserMs = summarize(s.map((x) => x.cpuUserMs));
    m.cpuSysMs = summarize(s.map((x) => x.cpuSysMs));
    m.memKiB = summarize(s.map((x) => x.memTotalKiB));
    m.memCliKiB = summarize(s.map((x) => x.memCliKiB));
    m.memStartedKiB = summarize(s.map((x) => x.memStartedKiB));
    summarizePhases(m);
    const first = s[0]!;
    m.output = {
      stdout: first.stdout,
      sha256: sha256(first.stdout),
      exitCode: first.exitCode,
      consistent: s.every((x) => x.stdout === first.stdout && x.exitCode === first.exitCode),
    };
  }
  const base = modes.find((m) => m.plan.id === 'container' && m.status === 'measured');
  for (const m of modes) {
    if (m.status !== 'measured') continue;
    m.ratios = {};
    const put = (k: keyof NonNullable<ModeResult['ratios']>, v: number | undefined, b: number | undefined): void => {
      const r = ratio(v, b);
      if (r !== undefined) m.ratios![k] = r;
    };
    put('wall', m.wallMs?.median, base?.wallMs?.median);
    put('cpu', m.cpuMs?.median, base?.cpuMs?.median);
    put('memory', m.memKiB?.median, base?.memKiB?.median);
    put('prep', m.prep?.ms, base?.prep?.ms);
    // work times compare only for the same amount of work (emulated rungs run fewer iterations: see ns/op)
    if (m.workload?.iterations === base?.workload?.iterations) put('work', m.workMs?.median, base?.workMs?.median);
    put('nsPerOp', m.workload?.nsPerOp.median, base?.workload?.nsPerOp.median);
  }
  const measured = modes.filter((m) => m.output);
  if (measured.length < 2) return undefined;
  return measured.every(
    (m) => m.output!.stdout === measured[0]!.output!.stdout && m.output!.exitCode === measured[0]!.output!.exitCode,
  );
}

export async function runCompare(opts: CompareOptions): Promise<CompareResult> {
  const log = opts.onProgress ?? (() => undefined);
  const env = { ...process.env, TVCTL_ROOT: opts.roots.state, TVCTL_DATA: opts.roots.data };
  const modes: ModeResult[] = opts.plans.map((plan) => ({
    plan,
    status: plan.available ? 'measured' : 'unavailable',
    samples: [],
  }));
  const timeoutOf = (id: ModeId): number => opts.timeoutMs?.[id] ?? (id === 'container' ? 120_000 : 600_000);
  const argvOf = (m: ModeResult, cmd: string[]): string[] => [
    ...m.plan.tvctlArgs,
    ...modeExtraArgs(m.plan, opts),
    opts.image,
    ...cmd,
  ];
  const commandOf = (m: ModeResult): string[] =>
    opts.workload
      ? workloadCommand(opts.workload.preset, iterationsFor(m.plan.kind, opts.workload.iterations))
      : opts.command;
  const measure = (m: ModeResult, argv: string[]): Promise<RunSample> =>
    measureRun(opts.tvctlBin, argv, { env, timeoutMs: timeoutOf(m.plan.id), sameClock: m.plan.id === 'container' });
  const live = (): ModeResult[] => modes.filter((m) => m.status === 'measured');

  for (const m of live()) {
    const prep = opts.prepare?.[m.plan.id];
    if (!prep) continue;
    log(`${m.plan.label}: measuring one-time preparation`);
    try {
      m.prep = await prep();
    } catch (err) {
      m.prepError = err instanceof Error ? err.message : String(err);
    }
  }
  for (const m of live()) {
    m.argv = argvOf(m, commandOf(m));
    log(`${m.plan.label}: warm-up (tvctl ${m.argv.join(' ')})`);
    const w = await measure(m, m.argv);
    m.warmup = w;
    if (isTvctlFailure(w)) {
      m.status = 'failed';
      m.error = lastLine(w.stderr).replace(/^tvctl: /, '');
    }
  }
  for (let i = 0; i < opts.runs; i++) {
    for (const m of live()) {
      log(`${m.plan.label}: run ${i + 1}/${opts.runs}`);
      const s = await measure(m, m.argv!);
      if (isTvctlFailure(s)) {
        m.status = 'failed';
        m.error = `run ${i + 1}: ${lastLine(s.stderr).replace(/^tvctl: /, '')}`;
        continue;
      }
      m.samples.push(s);
    }
  }
  const hostProbe = readHostProbe();
  for (const m of live()) {
    log(`${m.plan.label}: isolation probe`);
    const p = await measure(m, argvOf(m, probeCommand()));
    if (p.exitCode !== 0) {
      m.isolationError = `probe exited ${p.exitCode}: ${lastLine(p.stderr)}`;
      continue;
    }
    m.isolation = deriveIsolation(
      parseProbeOutput(p.stdout),
      hostProbe,
      m.plan.id === 'container' ? undefined : m.plan.id === 'bochs' ? 'interpreted' : m.plan.accel,
    );
  }
  const identical = finishModes(modes);
  if (opts.workload) {
    for (const m of live())
      if (!m.workload)
        m.workloadError = `no "workload ${opts.workload.preset} …" line on stdout (${JSON.stringify(lastLine(m.samples[0]?.stdout ?? '') || lastLine(m.samples[0]?.stderr ?? ''))})`;
  }
  return {
    version: 1,
    date: new Date().toISOString(),
    image: opts.image,
    command: opts.workload ? workloadCommand(opts.workload.preset, opts.workload.iterations) : opts.command,
    runs: opts.runs,
    warmups: 1,
    ...(opts.workload ? { workload: { ...opts.workload, what: PRESET_WHAT[opts.workload.preset] } } : {}),
    method: METHOD,
    host: opts.host,
    hostProbe,
    modes,
    outputIdentical: opts.workload ? undefined : identical,
  };
}

/**
 * Arguments every run of a mode gets before the image: the work-times request, and for a workload in a
 * container the read-only bind of the host's workload binary (a VM has it in its initramfs).
 */
export function modeExtraArgs(plan: ModePlan, opts: Pick<CompareOptions, 'workload' | 'workloadBin'>): string[] {
  const args = ['-e', WORK_TIMES_ENV];
  if (opts.workload && plan.id === 'container') {
    if (!opts.workloadBin) throw new Error('workloadBin is needed to run a workload in a container');
    args.push('-v', `${opts.workloadBin}:${WORKLOAD_PATH}:ro`);
  }
  return args;
}
