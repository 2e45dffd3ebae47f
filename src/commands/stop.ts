import { Args, Flags } from '@oclif/core';
import { TvctlCommand } from '../cli/base-command.js';
import { eachContainer } from '../cli/each-container.js';
import { Runtime } from '../runtime/runtime.js';

export default class Stop extends TvctlCommand<string[]> {
  static override description = 'stop one or more running containers (StopSignal, then SIGKILL after the timeout)';
  static override strict = false;
  static override flags = {
    time: Flags.integer({ char: 't', description: 'seconds to wait before killing the container', default: 10 }),
  };
  static override args = { container: Args.string({ required: true, description: 'container ID, prefix or name' }) };

  async run(): Promise<string[]> {
    const { argv, flags } = await this.parse(Stop);
    const runtime = new Runtime({ roots: this.roots(flags) });
    return eachContainer(this, argv as string[], (ref) => runtime.stop(ref, flags.time).then(() => ref));
  }
}
