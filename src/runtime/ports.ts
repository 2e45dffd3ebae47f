import { TvctlError } from '../errors.js';
import type { NetworkAttachment, PortMapping } from '../network/index.js';
import type { ContainerInfo } from './types.js';

/**
 * `tvctl port`: the ports bound for a container — only while it runs, as Docker (a requested host port 0 is
 * chosen at start) — or, given PRIVATE_PORT[/tcp|/udp], the bindings of that one port (an error when none).
 * `ref` is the name the user gave, for the message.
 */
export function publishedPorts(info: ContainerInfo, ref: string, privatePort?: string): PortMapping[] {
  const net = info.network as NetworkAttachment | undefined;
  const ports = info.state.running && net ? net.ports : [];
  if (privatePort === undefined) return ports;
  const m = /^(\d{1,5})(?:\/(tcp|udp))?$/i.exec(privatePort);
  if (!m) throw new TvctlError('BAD_USAGE', `invalid port "${privatePort}": expected PRIVATE_PORT[/tcp|/udp]`);
  const want = Number(m[1]);
  const proto = (m[2] ?? 'tcp').toLowerCase();
  const matching = ports.filter((p) => p.containerPort === want && p.protocol === proto);
  if (matching.length === 0) {
    throw new TvctlError('PORT_NOT_PUBLISHED', `no public port "${want}/${proto}" published for ${ref}`);
  }
  return matching;
}
