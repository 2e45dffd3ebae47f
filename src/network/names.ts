import { createHash } from 'node:crypto';
import { TvctlError } from '../errors.js';

/**
 * Names of the kernel objects and records tvctl creates for networks and containers. Every name is derived
 * from an id, so cleanup can find the objects again from the id alone (after a crash, kill -9 or reboot).
 */

export const DEFAULT_NETWORK = 'bridge';
export const DEFAULT_BRIDGE = 'tvctl0';
/** Names a user network cannot take: the pseudo-networks and Docker's aliases for them. */
export const RESERVED_NAMES: ReadonlySet<string> = new Set(['none', 'host', 'bridge', 'default', 'container']);
/** Where `ip netns add` puts named network namespaces. */
export const NETNS_DIR = '/run/netns';
/** Interfaces a container may have: eth0 from attach, eth1..eth9 from connect. */
export const MAX_INTERFACES = 10;

/** 12 hex chars naming a container's kernel objects (netns, veth): its id prefix, or a hash of other ids. */
export function containerKey(containerId: string): string {
  return /^[0-9a-f]{12,}$/.test(containerId)
    ? containerId.slice(0, 12)
    : createHash('sha256').update(containerId).digest('hex').slice(0, 12);
}
export const netnsNameFor = (containerId: string): string => `tvctl-${containerKey(containerId)}`;
export const netnsPathFor = (containerId: string): string => `${NETNS_DIR}/${netnsNameFor(containerId)}`;
/** Host end of the container's Nth interface: tv<key> for eth0, tv<key><N> for ethN (N ≤ 9); ≤ 15 chars. */
export const hostVethFor = (containerId: string, index = 0): string =>
  `tv${containerKey(containerId)}${index === 0 ? '' : index}`;
/** True when `link` is one of the host veth ends of this container (tv<key> or tv<key>1..9). */
export function isHostVethOf(containerId: string, link: string): boolean {
  const prefix = hostVethFor(containerId);
  return link === prefix || (link.startsWith(prefix) && /^\d$/.test(link.slice(prefix.length)));
}

/** tvbr-<name> when the name is short and plain, else tvbr-<10 hex of its hash>; always ≤ 15 chars. */
export function bridgeNameFor(network: string): string {
  if (network === DEFAULT_NETWORK) return DEFAULT_BRIDGE;
  if (/^[a-z0-9-]{1,10}$/.test(network)) return `tvbr-${network}`;
  return `tvbr-${createHash('sha256').update(network).digest('hex').slice(0, 10)}`;
}

/** A well-formed network name; only these ever reach the file system (no "../" lookups). */
export function isNetworkName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name);
}

export function validateNetworkName(name: string): void {
  if (!isNetworkName(name)) {
    throw new TvctlError('BAD_NAME', `invalid network name "${name}": use letters, digits, "_", "." and "-" (max 64)`);
  }
}

/** The default network's id: stable per data root, so two listings of one host agree. */
export function defaultNetworkId(dataRoot: string): string {
  return createHash('sha256').update(`tvctl default bridge ${dataRoot}`).digest('hex');
}

/** Stable ids for the two pseudo-networks `host` and `none` (they have no record). */
export function pseudoNetworkId(name: 'host' | 'none'): string {
  return createHash('sha256').update(`tvctl pseudo-network ${name}`).digest('hex');
}
