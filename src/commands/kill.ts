import { Flags } from '@oclif/core';
import { TvctlCommand } from '../cli/base-command.js';
import { eachContainer } from '../cli/each-container.js';
import { Runtime } from '../runtime/runtime.js';
import { containerArg } from '../cli/args.js';

export default class Kill extends TvctlCommand<string[]> {
  static override description = 'send a signal to one or more running containers';
  static override strict = false;
  static override flags = { signal: Flags.string({ char: 's', description: 'signal to send', default: 'KILL' }) };
  static override args = { container: containerArg };

  async run(): Promise<string[]> {
    const { argv, flags } = await this.parse(Kill);
    const runtime = new Runtime({ roots: this.roots(flags) });
    return eachContainer(this, argv as string[], (ref) => runtime.kill(ref, flags.signal).then(() => ref));
  }
}
