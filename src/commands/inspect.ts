import { Args } from '@oclif/core';
import { TvctlCommand } from '../cli/base-command.js';
import { toDockerInspect } from '../runtime/inspect.js';
import { Runtime } from '../runtime/runtime.js';

export default class Inspect extends TvctlCommand<Array<Record<string, unknown>>> {
  static override description = 'display detailed information on one or more containers (a JSON array, as Docker)';
  static override strict = false;
  static override args = { container: Args.string({ required: true, description: 'container ID, prefix or name' }) };

  async run(): Promise<Array<Record<string, unknown>>> {
    const { argv, flags } = await this.parse(Inspect);
    const runtime = new Runtime({ roots: this.roots(flags) });
    const out: Array<Record<string, unknown>> = [];
    for (const ref of argv as string[]) out.push(toDockerInspect(await runtime.inspect(ref)));
    if (!this.jsonEnabled()) this.log(JSON.stringify(out, null, 4));
    return out;
  }
}
