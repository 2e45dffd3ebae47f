import { Args, Flags } from '@oclif/core';
import { setTimeout as sleep } from 'node:timers/promises';
import { TvctlCommand } from '../cli/base-command.js';
import { formatTable } from '../cli/table.js';
import { STATS_HEADERS, formatStatsCells, type StatsRow } from '../cgroups/report.js';
import { Runtime } from '../runtime/runtime.js';
import { StatsSampler, statsTargets } from '../runtime/stats.js';

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
    const runtime = new Runtime({ roots: this.roots(flags) });
    const once = flags['no-stream'] || this.jsonEnabled();
    const targets = () => statsTargets(runtime, argv as string[], flags.all);
    const sampler = new StatsSampler(runtime);
    let containers = await targets();
    await sampler.start(containers);
    let stopped = false;
    const onSigint = (): void => {
      stopped = true;
    };
    if (!once) process.once('SIGINT', onSigint);
    try {
      for (;;) {
        await sleep(INTERVAL_MS);
        if (stopped) return [];
        const rows = await sampler.sample(containers);
        if (!this.jsonEnabled()) {
          const idWidth = flags['no-trunc'] ? 64 : 12;
          const table = formatTable(
            STATS_HEADERS,
            rows.map((r) => formatStatsCells(r, idWidth)),
          );
          // Docker redraws in place on a terminal; piped output gets one table per sample.
          if (!once && process.stdout.isTTY) process.stdout.write('\x1b[2J\x1b[H');
          this.log(table);
        }
        if (once) return rows;
        // New containers show up (and gone ones go) when no names were given, as with `docker stats`.
        containers = await targets().catch(() => containers);
        await sampler.add(containers);
      }
    } finally {
      process.removeListener('SIGINT', onSigint);
    }
  }
}
