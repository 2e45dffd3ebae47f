import { TvctlCommand } from '../../cli/base-command.js';
import { NetworkManager, type NetworkInspect } from '../../network/index.js';
import { networkArg } from '../../cli/args.js';

export default class NetworkInspectCmd extends TvctlCommand<NetworkInspect[]> {
  static override description =
    'display detailed information on one or more networks (JSON), with the containers attached';
  static override strict = false;
  static override args = { network: networkArg };

  async run(): Promise<NetworkInspect[]> {
    const { argv, flags } = await this.parse(NetworkInspectCmd);
    const roots = this.roots(flags);
    const mgr = new NetworkManager({ stateRoot: roots.state, dataRoot: roots.data });
    const out: NetworkInspect[] = [];
    for (const name of argv as string[]) out.push(await mgr.inspect(name));
    if (!this.jsonEnabled()) this.log(JSON.stringify(out, null, 4));
    return out;
  }
}
