import { Flags } from '@oclif/core';
import { TvctlCommand } from '../cli/base-command.js';
import { eachContainer } from '../cli/each-container.js';
import { limitFlagsFromCli, parseLimits } from '../cgroups/limits.js';
import { isEmptyLimits } from '../cgroups/merge.js';
import { TvctlError } from '../errors.js';
import { Runtime, type UpdateResult } from '../runtime/runtime.js';
import { containerArg } from '../cli/args.js';

export default class Update extends TvctlCommand<UpdateResult[]> {
  static override description = 'update the resource limits of one or more containers (live when they run)';
  static override strict = false;
  static override flags = {
    memory: Flags.string({ char: 'm', description: 'memory limit (b, k, m, g)' }),
    'memory-swap': Flags.string({ description: "memory + swap limit; '-1' for unlimited swap" }),
    'memory-reservation': Flags.string({ description: 'memory soft limit' }),
    cpus: Flags.string({ description: 'number of CPUs (fractional: 0.5; 0 removes the limit)' }),
    'cpu-shares': Flags.integer({ description: 'CPU shares (relative weight)' }),
    'cpuset-cpus': Flags.string({ description: 'CPUs in which to allow execution (0-3, 0,1)' }),
    'pids-limit': Flags.integer({ description: "tune the container's pids limit (-1 for unlimited)" }),
  };
  static override args = { container: containerArg };

  async run(): Promise<UpdateResult[]> {
    const { argv, flags } = await this.parse(Update);
    const limitFlags = limitFlagsFromCli(flags);
    const change = parseLimits(limitFlags, { forUpdate: true });
    if (isEmptyLimits(change)) {
      throw new TvctlError(
        'BAD_ARGS',
        'you must provide one or more flags when using this command (e.g. --memory, --cpus, --pids-limit)',
      );
    }
    const runtime = new Runtime({ roots: this.roots(flags) });
    return eachContainer(this, argv as string[], (ref) => runtime.update(ref, change));
  }
}
