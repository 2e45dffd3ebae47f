import { readFile } from 'node:fs/promises';
import { totalmem } from 'node:os';
import { buildStatsRow, parseNetDev, type StatsRow } from '../cgroups/report.js';
import type { CgroupStats } from '../cgroups/types.js';
import type { Runtime } from './runtime.js';
import type { ContainerInfo } from './types.js';

/**
 * `tvctl stats`: CPU % needs two samples of the cgroup's CPU time, so the sampler keeps the previous one per
 * container. `start` takes the first samples; each `sample` returns one row per container over the time since
 * the previous call; `add` takes a first sample of containers that appeared meanwhile.
 */
export class StatsSampler {
  private prev = new Map<string, CgroupStats | null>();
  private prevAt = process.hrtime.bigint();

  constructor(
    private readonly rt: Runtime,
    private readonly hostMemoryBytes = totalmem(),
  ) {}

  async start(containers: readonly ContainerInfo[]): Promise<void> {
    this.prev.clear();
    await this.add(containers);
    this.prevAt = process.hrtime.bigint();
  }

  async add(containers: readonly ContainerInfo[]): Promise<void> {
    for (const c of containers) if (!this.prev.has(c.id)) this.prev.set(c.id, await this.cgroupStats(c));
  }

  async sample(containers: readonly ContainerInfo[]): Promise<StatsRow[]> {
    const now = process.hrtime.bigint();
    const wallNs = Number(now - this.prevAt);
    const rows: StatsRow[] = [];
    const next = new Map<string, CgroupStats | null>();
    for (const c of containers) {
      const cur = await this.cgroupStats(c);
      next.set(c.id, cur);
      rows.push(buildStatsRow(c, this.prev.get(c.id) ?? null, cur, wallNs, this.hostMemoryBytes, await netIo(c)));
    }
    this.prev = next;
    this.prevAt = now;
    return rows;
  }

  /** A container that stopped (or whose cgroup went) between listing and sampling shows zeros. */
  private async cgroupStats(c: ContainerInfo): Promise<CgroupStats | null> {
    return c.state.running ? this.rt.cgroups.stats(c.id).catch(() => null) : null;
  }
}

/** The containers named, or (none named) the running ones, or all with `all`. */
export async function statsTargets(rt: Runtime, refs: readonly string[], all: boolean): Promise<ContainerInfo[]> {
  return refs.length > 0 ? Promise.all(refs.map((r) => rt.inspect(r))) : rt.list({ all });
}

/** The container's own network namespace, seen through its init's /proc/<pid>/net/dev. */
async function netIo(c: ContainerInfo): Promise<{ rx: number; tx: number } | null> {
  if (!c.state.running || c.state.pid <= 0 || c.hostConfig.network === 'host') return null;
  const text = await readFile(`/proc/${c.state.pid}/net/dev`, 'utf8').catch(() => null);
  return text === null ? null : parseNetDev(text);
}
