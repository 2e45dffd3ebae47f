import { Flags } from '@oclif/core';
import { TvctlCommand } from '../cli/base-command.js';
import { eachContainer } from '../cli/each-container.js';
import { Runtime } from '../runtime/runtime.js';
import { containerArg } from '../cli/args.js';

export default class Rm extends TvctlCommand<string[]> {
  static override description = 'remove one or more containers (a running one needs --force)';
  static override strict = false;
  static override flags = {
    force: Flags.boolean({ char: 'f', description: 'force the removal of a running container (uses SIGKILL)' }),
  };
  static override args = { container: containerArg };

  async run(): Promise<string[]> {
    const { argv, flags } = await this.parse(Rm);
    const runtime = new Runtime({ roots: this.roots(flags) });
    return eachContainer(this, argv as string[], (ref) => runtime.remove(ref, { force: flags.force }).then(() => ref));
  }
}
