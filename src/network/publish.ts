import { TvctlError } from '../errors.js';
import { isIPv4 } from './cidr.js';
import type { PortMapping } from './types.js';

/**
 * Parse Docker's -p syntax: `CTR`, `HOST:CTR`, `IP:HOST:CTR`, `IP::CTR`, each optionally `/tcp` or `/udp`.
 * An omitted host port is 0 ("pick a free one at attach"); an omitted host IP is 0.0.0.0 (all host addresses).
 * IPv4 only; port ranges are not supported.
 */
export function parsePublish(spec: string): PortMapping {
  const bad = (why: string): TvctlError =>
    new TvctlError(
      'BAD_PUBLISH',
      `invalid port publication "${spec}": ${why}; expected [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/tcp|/udp]`,
    );
  let rest = spec.trim();
  if (rest === '') throw bad('empty');
  let protocol: 'tcp' | 'udp' = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    const proto = rest.slice(slash + 1).toLowerCase();
    if (proto !== 'tcp' && proto !== 'udp') throw bad(`unsupported protocol "${proto}"`);
    protocol = proto;
    rest = rest.slice(0, slash);
  }
  if (rest.startsWith('[')) throw bad('IPv6 host addresses are not supported');
  const parts = rest.split(':');
  let hostIp = '0.0.0.0';
  let hostPortText = '';
  let ctrPortText: string;
  if (parts.length === 1) {
    ctrPortText = parts[0]!;
  } else if (parts.length === 2) {
    hostPortText = parts[0]!;
    ctrPortText = parts[1]!;
  } else if (parts.length === 3) {
    hostIp = parts[0]!;
    hostPortText = parts[1]!;
    ctrPortText = parts[2]!;
    if (!isIPv4(hostIp)) throw bad(`"${hostIp}" is not an IPv4 address`);
  } else {
    throw bad('too many ":"');
  }
  const containerPort = parsePort(ctrPortText, bad, false);
  const hostPort = hostPortText === '' ? 0 : parsePort(hostPortText, bad, true);
  return { hostIp, hostPort, containerPort, protocol };
}

function parsePort(text: string, bad: (why: string) => TvctlError, isHost: boolean): number {
  if (text.includes('-')) throw bad('port ranges are not supported');
  if (!/^\d{1,5}$/.test(text)) throw bad(`"${text}" is not a port number`);
  const n = Number(text);
  if (n < 1 || n > 65535) throw bad(`${isHost ? 'host' : 'container'} port ${n} is out of range 1-65535`);
  return n;
}

/** `0.0.0.0:18080->80/tcp`, as `docker port` / `docker ps` print it. */
export function formatPortMapping(p: PortMapping): string {
  return `${p.hostIp}:${p.hostPort}->${p.containerPort}/${p.protocol}`;
}
