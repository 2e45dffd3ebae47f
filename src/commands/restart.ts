import { Args, Flags } from '@oclif/core';
import { TvctlCommand } from '../cli/base-command.js';
import { eachContainer } from '../cli/each-container.js';
import { Runtime } from '../runtime/runtime.js';

export default class Restart extends TvctlCommand<string[]> {
  static override description = 'restart one or more containers';
  static override strict = false;
  static override flags = {
    time: Flags.integer({ char: 't', description: 'seconds to wait before killing the container', default: 10 }),
  };
  static override args = { container: Args.string({ required: true, description: 'container ID, prefix or name' }) };

  async run(): Promise<string[]> {
    const { argv, flags } = await this.parse(Restart);
    const runtime = new Runtime({ roots: this.roots(flags) });
    return eachContainer(this, argv as string[], (ref) => runtime.restart(ref, flags.time).then(() => ref));
  }
}
