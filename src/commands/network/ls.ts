import { Flags } from '@oclif/core';
import { TvctlCommand } from '../../cli/base-command.js';
import { formatTable } from '../../cli/table.js';
import { NetworkManager, type NetworkListing } from '../../network/index.js';

export default class NetworkLs extends TvctlCommand<NetworkListing[]> {
  static override description = 'list networks (the pre-defined bridge, host and none, and user networks)';
  static override aliases = ['network:list'];
  static override flags = {
    quiet: Flags.boolean({ char: 'q', description: 'only network IDs' }),
    'no-trunc': Flags.boolean({ description: 'full network IDs' }),
  };

  async run(): Promise<NetworkListing[]> {
    const { flags } = await this.parse(NetworkLs);
    const roots = this.roots(flags);
    const rows = await new NetworkManager({ stateRoot: roots.state, dataRoot: roots.data }).listing();
    if (this.jsonEnabled()) return rows;
    const id = (s: string): string => (flags['no-trunc'] ? s : s.slice(0, 12));
    if (flags.quiet) for (const r of rows) this.log(id(r.id));
    else
      this.log(
        formatTable(
          ['NETWORK ID', 'NAME', 'DRIVER', 'BRIDGE', 'SUBNET', 'INTERNAL'],
          rows.map((r) => [
            id(r.id),
            r.name,
            r.driver,
            r.bridge,
            r.subnet,
            r.driver === 'bridge' ? String(r.internal) : '',
          ]),
        ),
      );
    return rows;
  }
}
