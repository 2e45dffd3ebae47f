import { TvctlCommand } from '../../cli/base-command.js';
import { Runtime } from '../../runtime/runtime.js';
import { containerArg, networkArg } from '../../cli/args.js';

export default class NetworkDisconnect extends TvctlCommand<{ network: string; container: string }> {
  static override description = 'disconnect a container from a network it was connected to with "network connect"';
  static override args = {
    network: networkArg,
    container: containerArg,
  };

  async run(): Promise<{ network: string; container: string }> {
    const { args, flags } = await this.parse(NetworkDisconnect);
    const runtime = new Runtime({ roots: this.roots(flags) });
    const id = await runtime.store.resolve(args.container);
    await runtime.disconnect(id, args.network);
    return { network: args.network, container: id };
  }
}
