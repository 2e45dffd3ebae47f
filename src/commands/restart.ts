import { TvctlCommand } from '../cli/base-command.js';
import { eachContainer } from '../cli/each-container.js';
import { Runtime } from '../runtime/runtime.js';
import { containerArg, stopTimeFlag } from '../cli/args.js';

export default class Restart extends TvctlCommand<string[]> {
  static override description = 'restart one or more containers';
  static override strict = false;
  static override flags = {
    time: stopTimeFlag,
  };
  static override args = { container: containerArg };

  async run(): Promise<string[]> {
    const { argv, flags } = await this.parse(Restart);
    const runtime = new Runtime({ roots: this.roots(flags) });
    return eachContainer(this, argv as string[], (ref) => runtime.restart(ref, flags.time).then(() => ref));
  }
}
