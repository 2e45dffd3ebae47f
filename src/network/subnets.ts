import { TvctlError } from '../errors.js';
import {
  contains,
  firstHost,
  formatSubnet,
  intToIp,
  ipToInt,
  isIPv4,
  maskOf,
  overlaps,
  parseSubnet,
  type Subnet,
} from './cidr.js';
import type { NetworkRecord } from './types.js';

/** Pure choice of a network's subnet and gateway, given the existing networks and the host's routes. */

/** Tried in order for the default network; the first one not overlapping a host route wins. */
export const DEFAULT_SUBNETS = ['10.88.0.0/16', '10.87.0.0/16', '172.30.0.0/16', '192.168.240.0/20'];
/** User networks get the first free /24 from these pools. */
export const USER_POOLS = ['10.89.0.0/16', '10.90.0.0/16', '10.91.0.0/16'];

/** One IPv4 route of the host's main table (`ip -j -4 route`), without the default route. */
export interface HostRoute {
  dst: string;
  dev?: string;
}

export function overlapsRoute(s: Subnet, r: HostRoute): boolean {
  const [addr, len] = r.dst.split('/');
  if (!addr || !isIPv4(addr)) return false;
  const prefixLen = len === undefined ? 32 : Number(len);
  return overlaps(s, { base: (ipToInt(addr) & maskOf(prefixLen)) >>> 0, prefixLen });
}

/** First free /24 of the user pools not overlapping an existing network or host route. */
export function pickUserSubnet(existing: string[], routes: HostRoute[]): string {
  const taken = existing.map(parseSubnet);
  for (const pool of USER_POOLS) {
    const p = parseSubnet(pool);
    for (let base = p.base; base < p.base + 2 ** (32 - p.prefixLen); base += 256) {
      const s = { base, prefixLen: 24 };
      if (taken.some((t) => overlaps(t, s)) || routes.some((r) => overlapsRoute(s, r))) continue;
      return formatSubnet(s);
    }
  }
  throw new TvctlError('NO_SUBNET', `no free /24 left in ${USER_POOLS.join(', ')}; pass --subnet`);
}

/** The subnet a new user network gets: the requested one (normalised) if it is free, else the next free /24. */
export function chooseUserSubnet(requested: string | undefined, records: NetworkRecord[], routes: HostRoute[]): string {
  if (!requested) {
    return pickUserSubnet(
      records.map((r) => r.subnet),
      routes,
    );
  }
  const s = parseSubnet(requested);
  const subnet = formatSubnet(s);
  const other = records.find((r) => overlaps(parseSubnet(r.subnet), s));
  if (other)
    throw new TvctlError('SUBNET_OVERLAP', `subnet ${subnet} overlaps network "${other.name}" (${other.subnet})`);
  const route = routes.find((r) => overlapsRoute(s, r));
  if (route)
    throw new TvctlError(
      'SUBNET_OVERLAP',
      `subnet ${subnet} overlaps host route ${route.dst}${route.dev ? ` dev ${route.dev}` : ''}`,
    );
  return subnet;
}

/** The requested gateway if it is a host address of the subnet (not its network or broadcast address), else the first host. */
export function chooseGateway(subnet: string, requested: string | undefined): string {
  const s = parseSubnet(subnet);
  if (!requested) return intToIp(firstHost(s));
  if (
    !isIPv4(requested) ||
    !contains(s, ipToInt(requested)) ||
    ipToInt(requested) === s.base ||
    ipToInt(requested) === s.base + 2 ** (32 - s.prefixLen) - 1
  ) {
    throw new TvctlError('BAD_GATEWAY', `gateway ${requested} is not a usable address of ${subnet}`);
  }
  return requested;
}

/**
 * The default network's subnet: that of tvctl0's address when another tvctl (another data root) already
 * created the bridge, so both agree; else the first candidate clear of the host routes and user networks.
 */
export function pickDefaultSubnet(
  bridgeAddress: { ip: string; prefixLen: number } | null | undefined,
  routes: HostRoute[],
  records: NetworkRecord[],
): string {
  if (bridgeAddress) {
    const base = (ipToInt(bridgeAddress.ip) & maskOf(bridgeAddress.prefixLen)) >>> 0;
    return `${intToIp(base)}/${bridgeAddress.prefixLen}`;
  }
  const taken = records.map((r) => parseSubnet(r.subnet));
  for (const c of DEFAULT_SUBNETS) {
    const s = parseSubnet(c);
    if (!routes.some((r) => overlapsRoute(s, r)) && !taken.some((r) => overlaps(r, s))) return c;
  }
  throw new TvctlError('NO_SUBNET', `no free subnet for the default network among ${DEFAULT_SUBNETS.join(', ')}`);
}
