import { Flags } from '@oclif/core';
import { TvctlCommand } from '../cli/base-command.js';
import { GoTemplate } from '../cli/go-template.js';
import { toDockerInspect } from '../runtime/inspect.js';
import { Runtime } from '../runtime/runtime.js';
import { containerArg } from '../cli/args.js';

export default class Inspect extends TvctlCommand<Array<Record<string, unknown>>> {
  static override description = 'display detailed information on one or more containers (a JSON array, as Docker)';
  static override strict = false;
  static override args = { container: containerArg };
  static override flags = {
    format: Flags.string({ char: 'f', description: "format each object with a Go template, e.g. '{{.State.Pid}}'" }),
  };

  async run(): Promise<Array<Record<string, unknown>>> {
    const { argv, flags } = await this.parse(Inspect);
    const runtime = new Runtime({ roots: this.roots(flags) });
    const template = flags.format !== undefined ? new GoTemplate(flags.format) : undefined;
    const out: Array<Record<string, unknown>> = [];
    for (const ref of argv as string[]) out.push(toDockerInspect(await runtime.inspect(ref)));
    if (!this.jsonEnabled())
      this.log(template ? out.map((o) => template.execute(o)).join('\n') : JSON.stringify(out, null, 4));
    return out;
  }
}
