import { join } from 'node:path';
import { errorMessage, TvctlError } from '../errors.js';
import { withLock } from '../util/lock.js';
import { macForIp, parseSubnet } from './cidr.js';
import { syncHostsFiles, writeEtcFileSet } from './hosts-sync.js';
import { Ipam } from './ipam.js';
import { NetworkKernel } from './kernel.js';
import { containerKey, hostVethFor, isHostVethOf, MAX_INTERFACES, netnsNameFor, netnsPathFor } from './names.js';
import { NetworkCatalog } from './networks.js';
import { containerComment, networkComment } from './nft.js';
import { allocatePorts } from './ports.js';
import { dropStaleEndpoints, exists, NetworkStore, type EndpointRecord } from './records.js';
import type {
  AttachOptions,
  EtcFiles,
  EtcFilesOptions,
  NetworkAttachment,
  NetworkInspect,
  NetworkListing,
  NetworkManagerOptions,
  NetworkRecord,
} from './types.js';

/**
 * The operations of tvctl networking: attach/detach a container at start/stop, connect/disconnect more
 * networks, the container's /etc files, and user networks (create, list, inspect, remove). Kernel objects go
 * through NetworkKernel, records through NetworkStore; changes to what every tvctl on the host shares
 * (bridges, the nft table, leases) happen under one host-wide lock.
 */
export class NetworkManager {
  readonly stateRoot: string;
  readonly dataRoot: string;
  private readonly lockPath: string;
  private readonly ipam: Ipam;
  private readonly store: NetworkStore;
  private readonly kernel: NetworkKernel;
  private readonly networks: NetworkCatalog;

  constructor(opts: NetworkManagerOptions) {
    this.stateRoot = opts.stateRoot;
    this.dataRoot = opts.dataRoot;
    const dir = join(opts.dataRoot, 'network');
    this.lockPath = opts.lockPath ?? '/run/lock/tvctl-network.lock';
    this.ipam = new Ipam(join(dir, 'ipam'));
    this.store = new NetworkStore(dir);
    this.kernel = new NetworkKernel(opts.runner);
    this.networks = new NetworkCatalog({
      store: this.store,
      ipam: this.ipam,
      kernel: this.kernel,
      locked: (fn) => this.locked(fn),
      dataRoot: this.dataRoot,
    });
  }

  /** The host-wide lock over bridges, the nft table and leases (shared by every tvctl on this host). */
  private locked<T>(fn: () => Promise<T>): Promise<T> {
    return withLock(this.lockPath, fn, { createDir: true, timeoutMs: 60_000 });
  }

  // ---------------------------------------------------------------- attach / detach

  /**
   * Create the container's named netns and connect it. On any failure everything created so far is removed
   * (detach) before the error is rethrown.
   */
  async attach(containerId: string, opts: AttachOptions): Promise<NetworkAttachment> {
    const mode = opts.network === 'none' || opts.network === 'host' ? opts.network : 'bridge';
    if (mode === 'host') return { mode: 'host', ports: [] };
    const ns = netnsNameFor(containerId);
    const netnsPath = netnsPathFor(containerId);
    // Resolve the network first so a typo fails before anything is created.
    const network = mode === 'bridge' ? await this.networks.nameOf(opts.network) : undefined;
    const created = await this.kernel.netnsAdd(ns);
    if (created.exitCode !== 0) {
      throw new TvctlError(
        'NETNS_EXISTS',
        `cannot create network namespace ${ns}: ${created.stderr.trim()}; if it is left over, run detach for ${containerId}`,
      );
    }
    try {
      if (!network) {
        await this.kernel.loopbackUp(ns);
        return { mode: 'none', netnsPath, ports: [] };
      }
      return await this.attachBridge(containerId, network, opts, 0);
    } catch (err) {
      await this.detach(containerId).catch(() => undefined);
      throw err;
    }
  }

  /** The container's interface `eth<index>` on a bridge network: veth, lease, endpoint record, addresses. */
  private async attachBridge(
    containerId: string,
    networkName: string,
    opts: AttachOptions,
    index: number,
  ): Promise<NetworkAttachment> {
    const key = containerKey(containerId);
    const ns = netnsNameFor(containerId);
    const hostVeth = hostVethFor(containerId, index);
    const ifname = `eth${index}`;
    await this.kernel.vethAdd(hostVeth, ns, ifname);
    const ep = await this.locked(async () => {
      const net = await this.networks.resolve(networkName);
      if (index === 0) await dropStaleEndpoints(this.store, this.ipam);
      await this.kernel.ensureNetwork(net);
      const ipAddress = await this.ipam.allocate(net.name, net.subnet, net.gateway, containerId);
      const ports =
        opts.ports.length === 0
          ? []
          : await allocatePorts(opts.ports, [
              ...(await this.store.readEndpoints()).flatMap((e) => e.ports),
              ...(await this.kernel.publishedPorts()),
            ]);
      const rec: EndpointRecord = {
        containerId,
        key,
        index,
        ifname,
        network: net.name,
        bridge: net.bridge,
        netns: ns,
        hostVeth,
        ipAddress,
        prefixLen: parseSubnet(net.subnet).prefixLen,
        ...(net.internal ? {} : { gateway: net.gateway }),
        macAddress: macForIp(ipAddress),
        ports,
        hostname: opts.hostname,
        aliases: opts.aliases ?? [],
      };
      await this.store.writeEndpoint(rec);
      await this.kernel.plugIntoBridge(hostVeth, net.bridge);
      return rec;
    });
    await this.kernel.configureInterface(ns, {
      ifname,
      mac: ep.macAddress,
      cidr: `${ep.ipAddress}/${ep.prefixLen}`,
      gateway: ep.gateway,
    });
    await this.kernel.publishPorts(key, ep.ipAddress, ep.ports);
    return {
      mode: 'bridge',
      network: ep.network,
      netnsPath: netnsPathFor(containerId),
      ipAddress: ep.ipAddress,
      prefixLen: ep.prefixLen,
      ...(ep.gateway ? { gateway: ep.gateway } : {}),
      macAddress: ep.macAddress,
      hostVeth,
      ifname,
      ports: ep.ports,
    };
  }

  /**
   * Remove everything attach and connect created for the container: its nft rules, veths, netns and leases,
   * and each network's bridge when it was the last one on it. Idempotent; works from names and the persisted
   * leases alone, so it is safe after a crash or kill -9 at any point.
   */
  async detach(containerId: string): Promise<void> {
    const key = containerKey(containerId);
    const problems: string[] = [];
    const step = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
      try {
        await fn();
      } catch (err) {
        problems.push(`${what}: ${errorMessage(err)}`);
      }
    };
    await step('veth', async () => {
      for (const name of await this.kernel.linkNames()) {
        if (isHostVethOf(containerId, name)) await this.kernel.deleteLinkIfPresent(name);
      }
    });
    await step('netns', async () => {
      if (await exists(netnsPathFor(containerId))) await this.kernel.netnsDelete(netnsNameFor(containerId));
    });
    await step('firewall rules and lease', () =>
      this.locked(async () => {
        const eps = (await this.store.readEndpoints()).filter((e) => e.key === key);
        const released = await this.ipam.releaseAll((id) => containerKey(id) === key);
        for (const e of eps) await this.store.removeEndpoint(key, e.index ?? 0);
        await this.store.removeEndpoint(key);
        const nets = new Set([...released.map((l) => l.network), ...eps.map((e) => e.network)]);
        const bridges = new Set(eps.map((e) => e.bridge));
        for (const name of nets) {
          const net = await this.store.readRecord(name);
          if (net) bridges.add(net.bridge);
        }
        const gone: string[] = [];
        for (const b of bridges) if (await this.kernel.removeBridgeIfUnused(b)) gone.push(b);
        // One nft batch: the container's rules, the rules of bridges that went, and the table if nothing is left.
        await this.kernel.deleteRules(
          (r) => r.comment === containerComment(key) || gone.some((b) => r.comment === networkComment(b)),
        );
        await this.refreshHosts([...nets]);
      }),
    );
    if (problems.length > 0) {
      throw new TvctlError('DETACH_FAILED', `network cleanup of ${containerId} incomplete: ${problems.join('; ')}`);
    }
  }

  /**
   * Connect a running container (its netns exists and it has a bridge endpoint) to one more network: a new
   * veth pair, ethN inside, an address on that network, no default route; peers resolve it by name.
   */
  async connect(containerId: string, network: string, opts: { aliases?: string[] } = {}): Promise<NetworkAttachment> {
    const key = containerKey(containerId);
    const short = containerId.slice(0, 12);
    if (network === 'none' || network === 'host') {
      throw new TvctlError('BAD_USAGE', `cannot connect a container to the "${network}" network; use it at run time`);
    }
    const name = await this.networks.nameOf(network);
    if (!(await exists(netnsPathFor(containerId)))) {
      throw new TvctlError('NOT_RUNNING', `container ${short} has no network namespace; start it first`);
    }
    const mine = (await this.store.readEndpoints()).filter((e) => e.key === key);
    const primary = mine.find((e) => (e.index ?? 0) === 0);
    if (!primary)
      throw new TvctlError(
        'BAD_USAGE',
        `container ${short} is not on a bridge network; networks can be connected only to those`,
      );
    if (mine.some((e) => e.network === name)) {
      throw new TvctlError('ALREADY_CONNECTED', `container ${short} is already connected to network "${name}"`);
    }
    const used = new Set(mine.map((e) => e.index ?? 0));
    let index = 1;
    while (used.has(index)) index++;
    if (index >= MAX_INTERFACES)
      throw new TvctlError('TOO_MANY_NETWORKS', `container ${short} is on ${MAX_INTERFACES} networks already`);
    try {
      const aliases = opts.aliases ?? primary.aliases;
      const att = await this.attachBridge(
        containerId,
        name,
        { network: name, ports: [], hostname: primary.hostname, aliases },
        index,
      );
      await this.locked(() => this.refreshHosts([name, ...mine.map((e) => e.network)]));
      return att;
    } catch (err) {
      await this.disconnect(containerId, name).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Undo connect: remove ethN's veth, its lease and endpoint; the bridge goes with its last port. Returns the
   * network's name (`network` may be an ID prefix).
   */
  async disconnect(containerId: string, network: string): Promise<string> {
    const key = containerKey(containerId);
    const name = await this.networks.nameOf(network);
    const mine = (await this.store.readEndpoints()).filter((e) => e.key === key);
    const ep = mine.find((e) => e.network === name);
    const leases = (await this.ipam.leases(name)).filter((l) => containerKey(l.containerId) === key);
    if (ep && (ep.index ?? 0) === 0) {
      throw new TvctlError(
        'BAD_USAGE',
        `network "${name}" is the container's first network (eth0); remove or recreate the container instead`,
      );
    }
    if (!ep && leases.length === 0) {
      throw new TvctlError(
        'NOT_CONNECTED',
        `container ${containerId.slice(0, 12)} is not connected to network "${name}"`,
      );
    }
    if (ep) await this.kernel.deleteLinkIfPresent(ep.hostVeth);
    await this.locked(async () => {
      for (const l of leases) await this.ipam.release(l.network, l.ip);
      if (ep) await this.store.removeEndpoint(key, ep.index ?? 0);
      const net = await this.store.readRecord(name);
      if (net) await this.kernel.teardownNetworkIfUnused(net);
      await this.refreshHosts(mine.map((e) => e.network));
    });
    return name;
  }

  /** The persisted eth0 endpoint of a container (published ports, address), or undefined. */
  async endpoint(containerId: string): Promise<EndpointRecord | undefined> {
    return this.store.readEndpoint(containerKey(containerId));
  }

  // ---------------------------------------------------------------- /etc files

  async writeEtcFiles(
    containerId: string,
    attachment: NetworkAttachment,
    dir: string,
    opts: EtcFilesOptions,
  ): Promise<EtcFiles> {
    const files = await writeEtcFileSet(attachment, dir, opts);
    if (attachment.mode !== 'bridge' || !attachment.ipAddress) return files;
    // The endpoint learns where the files are; the refresh fills in the peers (and only rewrites files).
    await this.locked(async () => {
      const ep = await this.store.readEndpoint(containerKey(containerId));
      if (!ep) throw new TvctlError('NOT_ATTACHED', `container ${containerId} is not attached to a network`);
      ep.hostname = opts.hostname;
      ep.etc = { dir, addHosts: opts.addHosts };
      await this.store.writeEndpoint(ep);
      await this.refreshHosts([ep.network]);
    });
    return files;
  }

  /** Rewrites the hosts files of the containers on these networks, from the endpoints as they are now. */
  private async refreshHosts(networks: string[]): Promise<void> {
    await syncHostsFiles(await this.store.readEndpoints(), networks);
  }

  // ---------------------------------------------------------------- networks

  create(name: string, opts: { subnet?: string; gateway?: string; internal?: boolean } = {}): Promise<NetworkRecord> {
    return this.networks.create(name, opts);
  }

  /** The default network first, then the user networks by name. */
  list(): Promise<NetworkRecord[]> {
    return this.networks.list();
  }

  /** What `network ls` shows: every network of `list()`, then the pseudo-networks host and none. */
  listing(): Promise<NetworkListing[]> {
    return this.networks.listing();
  }

  inspect(name: string): Promise<NetworkInspect> {
    return this.networks.inspect(name);
  }

  /** Delete a user network; refused while any container holds an address on it. */
  remove(name: string): Promise<void> {
    return this.networks.remove(name);
  }
}
