import { Args, Flags } from '@oclif/core';
import { TvctlCommand } from '../../cli/base-command.js';
import { NetworkManager, type NetworkRecord } from '../../network/index.js';

export default class NetworkCreate extends TvctlCommand<NetworkRecord> {
  static override description =
    'create a bridge network (its own Linux bridge tvbr-*, subnet and NAT; isolated from other networks)';
  static override examples = [
    '<%= config.bin %> network create tenant-a',
    '<%= config.bin %> network create --subnet 10.200.0.0/24 --internal backend',
  ];
  static override args = { name: Args.string({ required: true, description: 'network name' }) };
  static override flags = {
    subnet: Flags.string({ description: 'IPv4 subnet in CIDR form (default: the next free /24 of 10.89.0.0/16)' }),
    gateway: Flags.string({ description: 'gateway address (default: the first address of the subnet)' }),
    internal: Flags.boolean({ description: 'no route out of the network (no NAT, no forwarding)' }),
    driver: Flags.string({ char: 'd', description: 'network driver', options: ['bridge'], default: 'bridge' }),
  };

  async run(): Promise<NetworkRecord> {
    const { args, flags } = await this.parse(NetworkCreate);
    const roots = this.roots(flags);
    const mgr = new NetworkManager({ stateRoot: roots.state, dataRoot: roots.data });
    const rec = await mgr.create(args.name, {
      ...(flags.subnet ? { subnet: flags.subnet } : {}),
      ...(flags.gateway ? { gateway: flags.gateway } : {}),
      internal: flags.internal,
    });
    if (!this.jsonEnabled()) this.log(rec.id);
    return rec;
  }
}
