import { TvctlCommand } from '../cli/base-command.js';
import { Runtime } from '../runtime/runtime.js';
import { containerArg } from '../cli/args.js';

export default class Wait extends TvctlCommand<number[]> {
  static override description = 'block until one or more containers stop, then print their exit codes';
  static override strict = false;
  static override args = { container: containerArg };

  async run(): Promise<number[]> {
    const { argv, flags } = await this.parse(Wait);
    const runtime = new Runtime({ roots: this.roots(flags) });
    const codes: number[] = [];
    for (const ref of argv as string[]) {
      const code = await runtime.wait(ref);
      codes.push(code);
      if (!this.jsonEnabled()) this.log(String(code));
    }
    return codes;
  }
}
