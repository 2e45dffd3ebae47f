import { Flags } from '@oclif/core';
import { TvctlCommand } from '../../cli/base-command.js';
import type { NetworkAttachment } from '../../network/index.js';
import { Runtime } from '../../runtime/runtime.js';
import { containerArg, networkArg } from '../../cli/args.js';

export default class NetworkConnect extends TvctlCommand<NetworkAttachment> {
  static override description =
    'connect a running container to one more network (a new interface ethN; no default route through it)';
  static override args = {
    network: networkArg,
    container: containerArg,
  };
  static override flags = {
    alias: Flags.string({ description: 'extra name for the container on this network', multiple: true }),
  };

  async run(): Promise<NetworkAttachment> {
    const { args, flags } = await this.parse(NetworkConnect);
    const runtime = new Runtime({ roots: this.roots(flags) });
    const att = await runtime.connect(args.container, args.network, { aliases: flags.alias ?? [] });
    if (!this.jsonEnabled()) this.log(`${att.network}: ${att.ipAddress}/${att.prefixLen}`);
    return att;
  }
}
