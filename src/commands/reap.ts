import { Args } from '@oclif/core';
import { TvctlCommand } from '../cli/base-command.js';
import { Runtime } from '../runtime/runtime.js';

export default class Reap extends TvctlCommand<{ id: string }> {
  static override description =
    "release an exited container's cgroups and network (run by its supervisor; --rm removes it)";
  static override hidden = true;
  static override args = { container: Args.string({ required: true, description: 'container ID' }) };

  async run(): Promise<{ id: string }> {
    const { args, flags } = await this.parse(Reap);
    await new Runtime({ roots: this.roots(flags) }).reap(args.container);
    return { id: args.container };
  }
}
