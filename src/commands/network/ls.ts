import { createHash } from 'node:crypto';
import { Flags } from '@oclif/core';
import { TvctlCommand } from '../../cli/base-command.js';
import { renderTable } from '../../images/format.js';
import { NetworkManager } from '../../network/index.js';

export interface NetworkLsRow {
  id: string;
  name: string;
  driver: 'bridge' | 'host' | 'null';
  bridge: string;
  subnet: string;
  gateway: string;
  internal: boolean;
}

export default class NetworkLs extends TvctlCommand<NetworkLsRow[]> {
  static override description = 'list networks (the pre-defined bridge, host and none, and user networks)';
  static override aliases = ['network:list'];
  static override flags = {
    quiet: Flags.boolean({ char: 'q', description: 'only network IDs' }),
    'no-trunc': Flags.boolean({ description: 'full network IDs' }),
  };

  async run(): Promise<NetworkLsRow[]> {
    const { flags } = await this.parse(NetworkLs);
    const roots = this.roots(flags);
    const mgr = new NetworkManager({ stateRoot: roots.state, dataRoot: roots.data });
    const nets = await mgr.list();
    const rows: NetworkLsRow[] = [
      ...nets.map((n) => ({
        id: n.id,
        name: n.name,
        driver: 'bridge' as const,
        bridge: n.bridge,
        subnet: n.subnet,
        gateway: n.gateway,
        internal: n.internal,
      })),
      { id: pseudoId('host'), name: 'host', driver: 'host', bridge: '', subnet: '', gateway: '', internal: false },
      { id: pseudoId('none'), name: 'none', driver: 'null', bridge: '', subnet: '', gateway: '', internal: false },
    ];
    if (!this.jsonEnabled()) {
      const id = (s: string): string => (flags['no-trunc'] ? s : s.slice(0, 12));
      if (flags.quiet) for (const r of rows) this.log(id(r.id));
      else
        this.log(
          renderTable(
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
    }
    return rows;
  }
}

/** Stable ids for the two pseudo-networks (they have no record). */
function pseudoId(name: string): string {
  return createHash('sha256').update(`tvctl pseudo-network ${name}`).digest('hex');
}
