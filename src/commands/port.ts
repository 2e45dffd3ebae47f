import { Args } from '@oclif/core';
import { TvctlCommand } from '../cli/base-command.js';
import { TvctlError } from '../errors.js';
import type { NetworkAttachment, PortMapping } from '../network/index.js';
import { Runtime } from '../runtime/runtime.js';

export default class Port extends TvctlCommand<PortMapping[]> {
  static override description =
    'list the published ports of a running container, or the host address of one container port';
  static override examples = ['<%= config.bin %> port web', '<%= config.bin %> port web 80/tcp'];
  static override args = {
    container: Args.string({ required: true, description: 'container ID, prefix or name' }),
    port: Args.string({ description: 'PRIVATE_PORT[/PROTO]' }),
  };

  async run(): Promise<PortMapping[]> {
    const { args, flags } = await this.parse(Port);
    const runtime = new Runtime({ roots: this.roots(flags) });
    const info = await runtime.inspect(args.container);
    // As Docker: ports are bound only while the container runs (hostPort 0 was resolved at start).
    const net = info.network as NetworkAttachment | undefined;
    let ports = info.state.running && net ? net.ports : [];
    if (args.port !== undefined) {
      const m = /^(\d{1,5})(?:\/(tcp|udp))?$/i.exec(args.port);
      if (!m) throw new TvctlError('BAD_USAGE', `invalid port "${args.port}": expected PRIVATE_PORT[/tcp|/udp]`);
      const want = Number(m[1]);
      const proto = (m[2] ?? 'tcp').toLowerCase();
      ports = ports.filter((p) => p.containerPort === want && p.protocol === proto);
      if (ports.length === 0) {
        throw new TvctlError(
          'PORT_NOT_PUBLISHED',
          `no public port "${want}/${proto}" published for ${args.container}`,
          1,
        );
      }
      if (!this.jsonEnabled()) for (const p of ports) this.log(`${p.hostIp}:${p.hostPort}`);
      return ports;
    }
    if (!this.jsonEnabled())
      for (const p of ports) this.log(`${p.containerPort}/${p.protocol} -> ${p.hostIp}:${p.hostPort}`);
    return ports;
  }
}
