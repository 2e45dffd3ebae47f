import { TvctlError } from '../errors.js';
import { isIPv4 } from './cidr.js';

/** Pure renderers of a container's /etc/hosts and /etc/resolv.conf. */

export interface HostsEntry {
  ip: string;
  names: string[];
}

const LOCALHOST = [
  '127.0.0.1\tlocalhost',
  '::1\tlocalhost ip6-localhost ip6-loopback',
  'fe00::0\tip6-localnet',
  'ff00::0\tip6-mcastprefix',
  'ff02::1\tip6-allnodes',
  'ff02::2\tip6-allrouters',
];

/** Parse Docker's --add-host `NAME:IP` (IPv4). */
export function parseAddHost(spec: string): HostsEntry {
  const i = spec.indexOf(':');
  const name = i > 0 ? spec.slice(0, i) : '';
  const ip = i > 0 ? spec.slice(i + 1) : '';
  if (!name || !/^[A-Za-z0-9][A-Za-z0-9.-]*$/.test(name) || !isIPv4(ip)) {
    throw new TvctlError('BAD_ADD_HOST', `invalid --add-host "${spec}": expected NAME:IPv4`);
  }
  return { ip, names: [name] };
}

export function renderHosts(opts: {
  /** The container's own address and names (hostname, aliases); absent for --network none. */
  self?: HostsEntry;
  extra: HostsEntry[];
  /** Other containers on the same user network. */
  peers: HostsEntry[];
}): string {
  const lines = [...LOCALHOST];
  if (opts.self) lines.push(entry(opts.self));
  for (const e of opts.extra) lines.push(entry(e));
  if (opts.peers.length > 0) {
    lines.push('# containers on the same network (maintained by tvctl)');
    for (const p of opts.peers) lines.push(entry(p));
  }
  return lines.join('\n') + '\n';
}

/** For --network host: the host's own hosts file plus --add-host entries. */
export function renderHostModeHosts(hostFile: string, extra: HostsEntry[]): string {
  const base = hostFile.endsWith('\n') || hostFile === '' ? hostFile : hostFile + '\n';
  return base + extra.map((e) => entry(e) + '\n').join('');
}

function entry(e: HostsEntry): string {
  return `${e.ip}\t${[...new Set(e.names.filter(Boolean))].join(' ')}`;
}

/**
 * Explicit --dns servers win; otherwise the host's resolv.conf minus loopback name servers (unreachable from
 * another network namespace), falling back to public resolvers as Docker does when none are left.
 * In host mode loopback servers are reachable and kept.
 */
export function renderResolvConf(hostResolv: string, dns: string[], keepLoopback: boolean): string {
  const lines = hostResolv.split('\n').map((l) => l.trim());
  const other = lines.filter((l) => /^(search|domain|options)\s/.test(l));
  let servers: string[];
  if (dns.length > 0) {
    for (const d of dns)
      if (!isIPv4(d)) throw new TvctlError('BAD_DNS', `invalid --dns "${d}": expected an IPv4 address`);
    servers = dns;
  } else {
    servers = lines
      .filter((l) => /^nameserver\s/.test(l))
      .map((l) => l.split(/\s+/)[1] ?? '')
      .filter((s) => s !== '' && (keepLoopback || !(s.startsWith('127.') || s === '::1')));
    if (servers.length === 0 && !keepLoopback) servers = ['8.8.8.8', '8.8.4.4'];
  }
  return [...servers.map((s) => `nameserver ${s}`), ...other].join('\n') + '\n';
}
