import { randomBytes } from 'node:crypto';
import { TvctlError } from '../errors.js';
import { macForIp } from './cidr.js';
import type { Ipam } from './ipam.js';
import type { NetworkKernel } from './kernel.js';
import {
  bridgeNameFor,
  DEFAULT_BRIDGE,
  DEFAULT_NETWORK,
  defaultNetworkId,
  hostVethFor,
  isNetworkName,
  pseudoNetworkId,
  RESERVED_NAMES,
  validateNetworkName,
} from './names.js';
import { dropStaleEndpoints, type NetworkStore } from './records.js';
import { chooseGateway, chooseUserSubnet, pickDefaultSubnet } from './subnets.js';
import type { NetworkInspect, NetworkListing, NetworkRecord } from './types.js';

/** Runs `fn` under the host-wide network lock. */
export type Locked = <T>(fn: () => Promise<T>) => Promise<T>;

/**
 * The networks themselves: user networks created and removed by the user, and the default `bridge` network,
 * materialised on first use. Lookups by name or unique ID prefix.
 */
export class NetworkCatalog {
  constructor(
    private readonly deps: {
      store: NetworkStore;
      ipam: Ipam;
      kernel: NetworkKernel;
      locked: Locked;
      /** Makes the default network's id differ between data roots. */
      dataRoot: string;
    },
  ) {}

  async create(
    name: string,
    opts: { subnet?: string; gateway?: string; internal?: boolean } = {},
  ): Promise<NetworkRecord> {
    const { store, kernel, locked } = this.deps;
    validateNetworkName(name);
    if (RESERVED_NAMES.has(name)) {
      throw new TvctlError('RESERVED_NAME', `"${name}" is a pre-defined network name; choose another`);
    }
    return locked(async () => {
      if (await store.readRecord(name)) throw new TvctlError('NETWORK_EXISTS', `network "${name}" already exists`);
      const records = await store.readRecords();
      const bridge = bridgeNameFor(name);
      const clash = records.find((r) => r.bridge === bridge);
      if (clash)
        throw new TvctlError(
          'NETWORK_EXISTS',
          `network "${name}" would share bridge ${bridge} with "${clash.name}"; choose another name`,
        );
      const subnet = chooseUserSubnet(opts.subnet, records, await kernel.hostRoutes());
      const rec: NetworkRecord = {
        name,
        id: randomBytes(32).toString('hex'),
        driver: 'bridge',
        bridge,
        subnet,
        gateway: chooseGateway(subnet, opts.gateway),
        internal: opts.internal ?? false,
        created: new Date().toISOString(),
      };
      await store.writeRecord(rec);
      return rec;
    });
  }

  /** The default network first, then the user networks by name. */
  async list(): Promise<NetworkRecord[]> {
    const def = await this.resolve(DEFAULT_NETWORK);
    const rest = (await this.deps.store.readRecords()).filter((r) => r.name !== DEFAULT_NETWORK);
    return [def, ...rest.sort((a, b) => a.name.localeCompare(b.name))];
  }

  /** What `network ls` shows: every network of `list()`, then the pseudo-networks host and none. */
  async listing(): Promise<NetworkListing[]> {
    const pseudo = (name: 'host' | 'none', driver: 'host' | 'null'): NetworkListing => ({
      id: pseudoNetworkId(name),
      name,
      driver,
      bridge: '',
      subnet: '',
      gateway: '',
      internal: false,
    });
    return [
      ...(await this.list()).map((n) => ({
        id: n.id,
        name: n.name,
        driver: 'bridge' as const,
        bridge: n.bridge,
        subnet: n.subnet,
        gateway: n.gateway,
        internal: n.internal,
      })),
      pseudo('host', 'host'),
      pseudo('none', 'null'),
    ];
  }

  /** The network with the containers holding an address on it (from the leases). */
  async inspect(name: string): Promise<NetworkInspect> {
    const net = await this.find(name);
    const eps = new Map(
      (await this.deps.store.readEndpoints()).filter((e) => e.network === net.name).map((e) => [e.containerId, e]),
    );
    const containers = (await this.deps.ipam.leases(net.name)).map((l) => {
      const ep = eps.get(l.containerId);
      return {
        containerId: l.containerId,
        ipAddress: l.ip,
        macAddress: ep?.macAddress ?? macForIp(l.ip),
        hostVeth: ep?.hostVeth ?? hostVethFor(l.containerId),
      };
    });
    return { ...net, containers };
  }

  /** Delete a user network; refused while any container holds an address on it. */
  async remove(name: string): Promise<void> {
    const { store, ipam, kernel, locked } = this.deps;
    if (name === DEFAULT_NETWORK || name === 'host' || name === 'none') {
      throw new TvctlError('RESERVED_NAME', `"${name}" is a pre-defined network and cannot be removed`);
    }
    await locked(async () => {
      const net = await this.find(name);
      await dropStaleEndpoints(store, ipam);
      const users = await ipam.leases(net.name);
      if (users.length > 0) {
        const ids = users.map((u) => u.containerId.slice(0, 12)).join(', ');
        throw new TvctlError('NETWORK_IN_USE', `network "${name}" is in use by container(s) ${ids}; remove them first`);
      }
      await kernel.teardownNetworkIfUnused(net);
      await ipam.dropNetwork(net.name);
      await store.removeRecord(net.name);
    });
  }

  /** A network by name or unique ID prefix. */
  async find(name: string): Promise<NetworkRecord> {
    if (name === DEFAULT_NETWORK) return this.resolve(name);
    const { store } = this.deps;
    let rec = isNetworkName(name) ? await store.readRecord(name) : undefined;
    if (!rec && /^[0-9a-f]{3,64}$/.test(name)) {
      const byId = (await store.readRecords()).filter((r) => r.id.startsWith(name));
      if (byId.length > 1)
        throw new TvctlError(
          'AMBIGUOUS',
          `network ID prefix "${name}" matches ${byId.length} networks; give more characters`,
        );
      rec = byId[0];
    }
    if (!rec)
      throw new TvctlError(
        'NETWORK_NOT_FOUND',
        `network "${name}" not found; run "tvctl network ls" or "tvctl network create NAME"`,
      );
    return rec;
  }

  /** The network's name (checking that it exists), without materialising the default network. */
  async nameOf(name: string): Promise<string> {
    if (name === DEFAULT_NETWORK) return name;
    return (await this.find(name)).name;
  }

  /** A network record by exact name; the default `bridge` network is materialised on first use. */
  async resolve(name: string): Promise<NetworkRecord> {
    const { store, kernel } = this.deps;
    const rec = await store.readRecord(name);
    if (rec) return rec;
    if (name !== DEFAULT_NETWORK) return this.find(name);
    const subnet = pickDefaultSubnet(
      await kernel.bridgeAddress(DEFAULT_BRIDGE),
      await kernel.hostRoutes(),
      await store.readRecords(),
    );
    const def: NetworkRecord = {
      name: DEFAULT_NETWORK,
      id: defaultNetworkId(this.deps.dataRoot),
      driver: 'bridge',
      bridge: DEFAULT_BRIDGE,
      subnet,
      gateway: chooseGateway(subnet, undefined),
      internal: false,
      created: new Date().toISOString(),
    };
    await store.writeRecord(def);
    return def;
  }
}
