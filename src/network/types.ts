/** Public types of the network library (src/network). */

export type NetworkMode = 'none' | 'host' | 'bridge';

/** One published port: `-p [HOST_IP:]HOST_PORT:CTR_PORT[/PROTO]`. hostPort 0 = pick a free port at attach. */
export interface PortMapping {
  hostIp: string;
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
}

/** What attach() did for one container; persisted by the caller in the container's state if it likes. */
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
  /** Published ports, with hostPort 0 replaced by the port actually chosen. */
  ports: PortMapping[];
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
}
