import { Args } from '@oclif/core';
import { TvctlCommand } from '../cli/base-command.js';
import type { PortMapping } from '../network/index.js';
import { Runtime } from '../runtime/runtime.js';
import { containerArg } from '../cli/args.js';

export default class Port extends TvctlCommand<PortMapping[]> {
  static override description =
    'list the published ports of a running container, or the host address of one container port';
  static override examples = ['<%= config.bin %> port web', '<%= config.bin %> port web 80/tcp'];
  static override args = {
    container: containerArg,
    port: Args.string({ description: 'PRIVATE_PORT[/PROTO]' }),
  };

  async run(): Promise<PortMapping[]> {
    const { args, flags } = await this.parse(Port);
    const runtime = new Runtime({ roots: this.roots(flags) });
    const ports = await runtime.ports(args.container, args.port);
    if (!this.jsonEnabled()) {
      for (const p of ports) {
        this.log(
          args.port !== undefined
            ? `${p.hostIp}:${p.hostPort}`
            : `${p.containerPort}/${p.protocol} -> ${p.hostIp}:${p.hostPort}`,
        );
      }
    }
    return ports;
  }
}
