import { TvctlCommand } from '../../cli/base-command.js';
import { NetworkManager } from '../../network/index.js';
import { networkArg } from '../../cli/args.js';

export default class NetworkRm extends TvctlCommand<string[]> {
  static override description = 'remove one or more networks (refused while a container is attached)';
  static override aliases = ['network:remove'];
  static override strict = false;
  static override args = { network: networkArg };

  async run(): Promise<string[]> {
    const { argv, flags } = await this.parse(NetworkRm);
    const roots = this.roots(flags);
    const mgr = new NetworkManager({ stateRoot: roots.state, dataRoot: roots.data });
    const removed: string[] = [];
    for (const name of argv as string[]) {
      await mgr.remove(name);
      removed.push(name);
      if (!this.jsonEnabled()) this.log(name);
    }
    return removed;
  }
}
