import { createSocket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { TvctlError } from '../errors.js';
import type { PortMapping } from './types.js';

type HostSide = Pick<PortMapping, 'hostIp' | 'hostPort' | 'protocol'>;

/**
 * Host ports for a container's published ports: a requested port must be free, hostPort 0 becomes a random
 * free port of the kernel's ephemeral range. A port is taken when another publication holds it (`inUse`:
 * this data root's endpoints and the kernel's DNAT rules) or something on the host is bound to it.
 */
export async function allocatePorts(
  requested: readonly PortMapping[],
  inUse: readonly HostSide[],
): Promise<PortMapping[]> {
  const out: PortMapping[] = [];
  const clash = (p: HostSide): boolean =>
    [...inUse, ...out].some(
      (q) =>
        q.protocol === p.protocol &&
        q.hostPort === p.hostPort &&
        (q.hostIp === p.hostIp || q.hostIp === '0.0.0.0' || p.hostIp === '0.0.0.0'),
    );
  for (const req of requested) {
    if (req.hostPort !== 0) {
      if (clash(req) || !(await hostPortFree(req))) {
        throw new TvctlError(
          'PORT_IN_USE',
          `cannot publish ${req.hostIp}:${req.hostPort}/${req.protocol}: port is already allocated`,
        );
      }
      out.push({ ...req });
      continue;
    }
    const [lo, hi] = await localPortRange();
    const span = hi - lo + 1;
    const start = lo + Math.floor(Math.random() * span);
    let chosen: PortMapping | undefined;
    for (let i = 0; i < span && !chosen; i++) {
      const cand = { ...req, hostPort: lo + ((start - lo + i) % span) };
      if (!clash(cand) && (await hostPortFree(cand))) chosen = cand;
    }
    if (!chosen) throw new TvctlError('PORT_IN_USE', `no free host port for ${req.containerPort}/${req.protocol}`);
    out.push(chosen);
  }
  return out;
}

async function localPortRange(): Promise<[number, number]> {
  const text = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '32768 60999');
  const [a, b] = text.trim().split(/\s+/).map(Number);
  return a && b && a <= b ? [a, b] : [32768, 60999];
}

/**
 * Nothing on the host is bound to this address/port (a DNAT rule would silently shadow it). A host IP that is
 * not an address of this host is an error of its own, as with Docker.
 */
async function hostPortFree(p: PortMapping): Promise<boolean> {
  const result = await new Promise<true | NodeJS.ErrnoException>((resolve) => {
    if (p.protocol === 'udp') {
      const sock = createSocket('udp4');
      sock.once('error', (err) => resolve(err));
      sock.bind({ address: p.hostIp, port: p.hostPort, exclusive: true }, () => sock.close(() => resolve(true)));
      return;
    }
    const srv = createServer();
    srv.once('error', (err) => resolve(err));
    srv.listen({ host: p.hostIp, port: p.hostPort, exclusive: true }, () => srv.close(() => resolve(true)));
  });
  if (result === true) return true;
  if (result.code === 'EADDRNOTAVAIL') {
    throw new TvctlError('BAD_PUBLISH', `cannot publish on ${p.hostIp}: not an address of this host`);
  }
  return false;
}
