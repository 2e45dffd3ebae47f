import { Flags } from '@oclif/core';
import { TvctlCommand } from '../cli/base-command.js';
import { formatRecord, parseSince, type LogRecord } from '../runtime/logs.js';
import { Runtime } from '../runtime/runtime.js';
import { containerArg } from '../cli/args.js';

export default class Logs extends TvctlCommand<LogRecord[]> {
  static override description = 'fetch the logs of a detached container (stdout and stderr, kept after it exits)';
  static override flags = {
    follow: Flags.boolean({ char: 'f', description: 'follow log output' }),
    tail: Flags.string({
      char: 'n',
      description: 'number of lines to show from the end of the logs ("all")',
      default: 'all',
    }),
    timestamps: Flags.boolean({ char: 't', description: 'show timestamps' }),
    since: Flags.string({ description: 'show logs since a timestamp (2026-01-02T13:23:37Z) or relative (42m)' }),
  };
  static override args = { container: containerArg };

  async run(): Promise<LogRecord[]> {
    const { args, flags } = await this.parse(Logs);
    const runtime = new Runtime({ roots: this.roots(flags) });
    const selection = {
      ...(flags.tail !== 'all' ? { tail: Number.parseInt(flags.tail, 10) } : {}),
      ...(flags.since !== undefined ? { since: parseSince(flags.since) } : {}),
    };
    return runtime.logs(args.container, { ...selection, follow: flags.follow }, (r) => {
      if (this.jsonEnabled()) return;
      (r.stream === 'stderr' ? process.stderr : process.stdout).write(formatRecord(r, flags.timestamps));
    });
  }
}
