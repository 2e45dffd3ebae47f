import { Args } from '@oclif/core';
import { TvctlCommand } from '../../cli/base-command.js';
import { NetworkManager } from '../../network/index.js';
import { Runtime } from '../../runtime/runtime.js';

export default class NetworkDisconnect extends TvctlCommand<{ network: string; container: string }> {
  static override description = 'disconnect a container from a network it was connected to with "network connect"';
  static override args = {
    network: Args.string({ required: true, description: 'network name or ID prefix' }),
    container: Args.string({ required: true, description: 'container ID, prefix or name' }),
  };

  async run(): Promise<{ network: string; container: string }> {
    const { args, flags } = await this.parse(NetworkDisconnect);
    const roots = this.roots(flags);
    const info = await new Runtime({ roots }).inspect(args.container);
    const mgr = new NetworkManager({ stateRoot: roots.state, dataRoot: roots.data });
    await mgr.disconnect(info.id, args.network);
    return { network: args.network, container: info.id };
  }
}
