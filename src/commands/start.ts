import { TvctlCommand } from '../cli/base-command.js';
import { eachContainer } from '../cli/each-container.js';
import { Runtime } from '../runtime/runtime.js';
import { containerArg } from '../cli/args.js';

export default class Start extends TvctlCommand<string[]> {
  static override description = 'start one or more stopped containers (in the background)';
  static override strict = false;
  static override args = { container: containerArg };

  async run(): Promise<string[]> {
    const { argv, flags } = await this.parse(Start);
    const runtime = new Runtime({ roots: this.roots(flags) });
    return eachContainer(this, argv as string[], (ref) => runtime.start(ref, { attach: false }).then(() => ref));
  }
}
