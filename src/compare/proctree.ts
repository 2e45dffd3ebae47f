/**
 * Host memory cost of a run: every process in the tree under the tvctl process we started is sampled while it
 * runs, and each one's peak resident set (VmHWM in /proc/<pid>/status: the kernel's own high-water mark, so a
 * peak between two samples is not lost) is kept; the cost is the sum of those peaks. A process that lives and
 * dies between two samples (a few ms) is missed — only the tiny short-lived helpers are, never a supervisor
 * or a VMM. The tree is walked through /proc/<pid>/task/<tid>/children, so pid-namespaced container
 * processes (host pids) and QEMU (whose RSS includes the guest RAM actually touched) are both counted.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface ProcessPeak {
  pid: number;
  /** comm (/proc/<pid>/status Name), at the last sample */
  name: string;
  /** peak resident set size in KiB (VmHWM) */
  hwmKiB: number;
  /** distance from the root: 0 = the tvctl process itself */
  depth: number;
}

/** Parses Name and VmHWM (KiB) out of /proc/<pid>/status text. Pure. */
export function parseStatus(text: string): { name: string; hwmKiB: number } | undefined {
  const name = /^Name:\s*(.*)$/m.exec(text)?.[1];
  const hwm = /^VmHWM:\s+(\d+)\s*kB/m.exec(text)?.[1];
  if (name === undefined || hwm === undefined) return undefined; // kernel thread or a zombie
  return { name: name.trim(), hwmKiB: Number(hwm) };
}

/** Children of a process: the union over its threads of /proc/<pid>/task/<tid>/children. */
export function childrenOf(pid: number, procRoot = '/proc'): number[] {
  let tids: string[];
  try {
    tids = readdirSync(join(procRoot, String(pid), 'task'));
  } catch {
    return [];
  }
  const out = new Set<number>();
  for (const tid of tids) {
    try {
      for (const c of readFileSync(join(procRoot, String(pid), 'task', tid, 'children'), 'utf8').split(/\s+/))
        if (c) out.add(Number(c));
    } catch {
      // thread gone
    }
  }
  return [...out];
}

/** Keeps the largest VmHWM seen per pid over repeated `sample()` calls of one process tree. */
export class ProcessTreeSampler {
  private readonly peaks = new Map<number, ProcessPeak>();
  samples = 0;

  constructor(
    private readonly rootPid: number,
    private readonly procRoot = '/proc',
  ) {}

  sample(): void {
    this.samples++;
    const queue: Array<[number, number]> = [[this.rootPid, 0]];
    const seen = new Set<number>();
    while (queue.length) {
      const [pid, depth] = queue.shift()!;
      if (seen.has(pid)) continue;
      seen.add(pid);
      let st: { name: string; hwmKiB: number } | undefined;
      try {
        st = parseStatus(readFileSync(join(this.procRoot, String(pid), 'status'), 'utf8'));
      } catch {
        continue; // exited
      }
      if (st) {
        const prev = this.peaks.get(pid);
        if (!prev || st.hwmKiB >= prev.hwmKiB) this.peaks.set(pid, { pid, name: st.name, hwmKiB: st.hwmKiB, depth });
      }
      for (const c of childrenOf(pid, this.procRoot)) queue.push([c, depth + 1]);
    }
  }

  result(): ProcessPeak[] {
    return [...this.peaks.values()].sort((a, b) => a.depth - b.depth || a.pid - b.pid);
  }
}

/** Splits a tree's peaks into the tvctl process itself and what it started. Pure. */
export function memoryCost(peaks: readonly ProcessPeak[]): { totalKiB: number; cliKiB: number; startedKiB: number } {
  let cli = 0;
  let started = 0;
  for (const p of peaks) {
    if (p.depth === 0) cli += p.hwmKiB;
    else started += p.hwmKiB;
  }
  return { totalKiB: cli + started, cliKiB: cli, startedKiB: started };
}

/**
 * CPU time of this process's reaped children so far (utime+stime of everything waited for, as the kernel
 * accumulates it for getrusage(RUSAGE_CHILDREN)), from /proc/self/stat fields cutime and cstime, in ms.
 * Resolution: one clock tick (10 ms with USER_HZ 100).
 */
export function childrenCpuMs(procRoot = '/proc', ticksPerSecond = 100): { userMs: number; sysMs: number } {
  const stat = readFileSync(join(procRoot, 'self', 'stat'), 'utf8');
  return parseChildrenCpu(stat, ticksPerSecond);
}

/** Pure: fields 16 (cutime) and 17 (cstime) of a /proc/<pid>/stat line, in ms. */
export function parseChildrenCpu(stat: string, ticksPerSecond = 100): { userMs: number; sysMs: number } {
  // comm (field 2) may contain spaces and parentheses: fields are counted after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); field N is rest[N - 3].
  const cutime = Number(rest[16 - 3]);
  const cstime = Number(rest[17 - 3]);
  return { userMs: (cutime * 1000) / ticksPerSecond, sysMs: (cstime * 1000) / ticksPerSecond };
}
