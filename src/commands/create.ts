import { TvctlCommand } from '../cli/base-command.js';
import { containerOptionsFromFlags } from '../cli/container-options.js';
import { containerFlags } from '../cli/run-flags.js';
import { TvctlError } from '../errors.js';
import { Runtime } from '../runtime/runtime.js';
import { imageArg } from '../cli/args.js';

export default class Create extends TvctlCommand<{ id: string }> {
  static override description = 'create a new container without starting it (start it with "tvctl start")';
  static override usage = 'create [OPTIONS] IMAGE [COMMAND] [ARG...]';
  static override strict = false;
  static override flags = containerFlags;
  static override args = { image: imageArg };

  async run(): Promise<{ id: string }> {
    const { flags, target: image, cmd } = await this.parseCommandLine(Create);
    if (image === undefined) throw new TvctlError('BAD_ARGS', '"tvctl create" requires at least 1 argument');
    const runtime = new Runtime({ roots: this.roots(flags) });
    const info = await runtime.create(await containerOptionsFromFlags(flags, image, cmd));
    if (!this.jsonEnabled()) this.log(info.id);
    return { id: info.id };
  }
}
