import { Args, Flags } from '@oclif/core';
import { readFile } from 'node:fs/promises';
import { totalmem } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { TvctlCommand } from '../cli/base-command.js';
import { formatTable } from '../cli/table.js';
import { STATS_HEADERS, buildStatsRow, formatStatsCells, parseNetDev, type StatsRow } from '../cgroups/report.js';
import type { CgroupStats } from '../cgroups/types.js';
import { Runtime } from '../runtime/runtime.js';
import type { ContainerInfo } from '../runtime/types.js';

const INTERVAL_MS = 1000;

export default class Stats extends TvctlCommand<StatsRow[]> {
  static override description =
    'display a live stream of container resource usage (CPU %, memory, net and block I/O, pids); --json and --no-stream print one sample';
  static override strict = false;
  static override flags = {
    'no-stream': Flags.boolean({ description: 'print one sample (over one second) and exit' }),
    'no-trunc': Flags.boolean({ description: "don't truncate output" }),
    all: Flags.boolean({ char: 'a', description: 'show all containers (default shows just running)' }),
  };
  static override args = {
    container: Args.string({ required: false, description: 'container ID, prefix or name (default: all running)' }),
  };

  async run(): Promise<StatsRow[]> {
    const { argv, flags } = await this.parse(Stats);
    const refs = argv as string[];
    const runtime = new Runtime({ roots: this.roots(flags) });
    const once = flags['no-stream'] || this.jsonEnabled();
    const idWidth = flags['no-trunc'] ? 64 : 12;

    const targets = async (): Promise<ContainerInfo[]> =>
      refs.length > 0 ? Promise.all(refs.map((r) => runtime.inspect(r))) : runtime.list({ all: flags.all });

    const sampleOne = async (c: ContainerInfo): Promise<CgroupStats | null> =>
      c.state.running ? runtime.cgroups.stats(c.id).catch(() => null) : null;

    let containers = await targets();
    let prev = new Map<string, CgroupStats | null>();
    for (const c of containers) prev.set(c.id, await sampleOne(c));
    let prevAt = process.hrtime.bigint();

    let stopped = false;
    const onSigint = (): void => {
      stopped = true;
    };
    if (!once) process.once('SIGINT', onSigint);
    try {
      for (;;) {
        await sleep(INTERVAL_MS);
        if (stopped) return [];
        const now = process.hrtime.bigint();
        const wallNs = Number(now - prevAt);
        const rows: StatsRow[] = [];
        const next = new Map<string, CgroupStats | null>();
        for (const c of containers) {
          const cur = await sampleOne(c);
          next.set(c.id, cur);
          rows.push(buildStatsRow(c, prev.get(c.id) ?? null, cur, wallNs, totalmem(), await netIo(c)));
        }
        if (!this.jsonEnabled()) {
          const table = formatTable(
            STATS_HEADERS,
            rows.map((r) => formatStatsCells(r, idWidth)),
          );
          // Docker redraws in place on a terminal; piped output gets one table per sample.
          if (!once && process.stdout.isTTY) process.stdout.write('\x1b[2J\x1b[H');
          this.log(table);
        }
        if (once) return rows;
        prev = next;
        prevAt = now;
        // New containers show up (and gone ones go) when no names were given, as with `docker stats`.
        containers = await targets().catch(() => containers);
        for (const c of containers) if (!prev.has(c.id)) prev.set(c.id, await sampleOne(c));
      }
    } finally {
      process.removeListener('SIGINT', onSigint);
    }
  }
}

/** The container's own network namespace, seen through its init's /proc/<pid>/net/dev. */
async function netIo(c: ContainerInfo): Promise<{ rx: number; tx: number } | null> {
  if (!c.state.running || c.state.pid <= 0 || c.hostConfig.network === 'host') return null;
  const text = await readFile(`/proc/${c.state.pid}/net/dev`, 'utf8').catch(() => null);
  return text === null ? null : parseNetDev(text);
}
