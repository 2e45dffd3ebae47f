import type { CommandRunner } from './kernel.js';

/** Public types of the network library (src/network). */

export type NetworkMode = 'none' | 'host' | 'bridge';

/** One published port: `-p [HOST_IP:]HOST_PORT:CTR_PORT[/PROTO]`. hostPort 0 = pick a free port at attach. */
export interface PortMapping {
  hostIp: string;
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
}

/** What attach() did for one container; the runtime keeps it in the container's record (ContainerNetwork). */
export interface NetworkAttachment {
  mode: NetworkMode;
  /** Network name for bridge mode (`bridge` for the default network, or a user network). */
  network?: string;
  /** /run/netns/tvctl-<12 hex>; absent for host mode. The container joins it with nsenter --net=PATH. */
  netnsPath?: string;
  ipAddress?: string;
  prefixLen?: number;
  /** Absent on --internal networks (no default route). */
  gateway?: string;
  macAddress?: string;
  /** Host side of the veth pair (tv<12 hex>), a port of the network's bridge. */
  hostVeth?: string;
  /** The interface inside the container (eth0; ethN for a network connected later); bridge mode only. */
  ifname?: string;
  /** Published ports, with hostPort 0 replaced by the port actually chosen. */
  ports: PortMapping[];
}

/** One more interface of a running container, added by `network connect` (eth1..eth9; no default route). */
export interface ConnectedNetwork {
  network: string;
  ifname: string;
  ipAddress: string;
  prefixLen: number;
  /** Absent on --internal networks. */
  gateway?: string;
  macAddress: string;
  hostVeth: string;
}

/** A container's networking as its record keeps it: what start attached (eth0), plus the networks connected since. */
export interface ContainerNetwork extends NetworkAttachment {
  /** In connect order; gone with the container's next start (which attaches eth0 afresh). */
  connected?: ConnectedNetwork[];
}

export interface AttachOptions {
  /** none | host | bridge | NAME of a user network */
  network: string;
  ports: PortMapping[];
  hostname: string;
  /** Extra names peers on the same user network resolve to this container (e.g. the container name). */
  aliases?: string[];
}

export interface EtcFilesOptions {
  hostname: string;
  /** `NAME:IP` entries (Docker --add-host). */
  addHosts: string[];
  /** Name server addresses (Docker --dns); empty = derived from the host's /etc/resolv.conf. */
  dns: string[];
}

/** Paths of the files written for a container, to bind-mount at /etc/hosts, /etc/hostname, /etc/resolv.conf. */
export interface EtcFiles {
  hosts: string;
  hostname: string;
  resolvConf: string;
}

export interface NetworkRecord {
  name: string;
  id: string;
  driver: 'bridge';
  /** Linux bridge device: tvctl0 for the default network, tvbr-<name or hash> for user networks. */
  bridge: string;
  subnet: string;
  gateway: string;
  internal: boolean;
  created: string;
}

export interface NetworkInspect extends NetworkRecord {
  /** Containers holding an address on this network (from the persisted leases). */
  containers: Array<{ containerId: string; ipAddress: string; macAddress: string; hostVeth: string }>;
}

export interface NetworkManagerOptions {
  stateRoot: string;
  dataRoot: string;
  /**
   * Host-wide lock serialising changes to kernel objects shared by every tvctl (bridges, the nft table).
   * Default /run/lock/tvctl-network.lock.
   */
  lockPath?: string;
  /** Runs the ip/nft/sysctl command lines; default: the host's programs. */
  runner?: CommandRunner;
}

/** One row of `network ls`: the networks with records, then the pseudo-networks host and none. */
export interface NetworkListing {
  id: string;
  name: string;
  driver: 'bridge' | 'host' | 'null';
  bridge: string;
  subnet: string;
  gateway: string;
  internal: boolean;
}
