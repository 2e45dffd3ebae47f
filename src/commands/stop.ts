import { TvctlCommand } from '../cli/base-command.js';
import { eachContainer } from '../cli/each-container.js';
import { Runtime } from '../runtime/runtime.js';
import { containerArg, stopTimeFlag } from '../cli/args.js';

export default class Stop extends TvctlCommand<string[]> {
  static override description = 'stop one or more running containers (StopSignal, then SIGKILL after the timeout)';
  static override strict = false;
  static override flags = {
    time: stopTimeFlag,
  };
  static override args = { container: containerArg };

  async run(): Promise<string[]> {
    const { argv, flags } = await this.parse(Stop);
    const runtime = new Runtime({ roots: this.roots(flags) });
    return eachContainer(this, argv as string[], (ref) => runtime.stop(ref, flags.time).then(() => ref));
  }
}
