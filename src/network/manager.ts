import { createHash, randomBytes } from 'node:crypto';
import { access, mkdir, open, readdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { errorMessage, isErrno, TvctlError } from '../errors.js';
import { runCommand } from '../util/exec.js';
import * as fast from '../util/fs-fast.js';
import {
  formatSubnet,
  ipToInt,
  intToIp,
  contains,
  firstHost,
  macForIp,
  overlaps,
  parseSubnet,
  isIPv4,
} from './cidr.js';
import {
  bridgeCreateLines,
  bridgePortLines,
  ipBatch,
  ipCmd,
  netnsSetupLines,
  sysctlKeys,
  sysctlSet,
} from './commands.js';
import { parseAddHost, renderHostModeHosts, renderHosts, renderResolvConf, type HostsEntry } from './etc.js';
import { Ipam } from './ipam.js';
import { withLock } from '../util/lock.js';
import {
  containerComment,
  deleteRulesScript,
  deleteTableScript,
  networkComment,
  networkRulesScript,
  nftCmd,
  onlySkeletonLeft,
  parsePublishedPorts,
  parseRules,
  portRulesScript,
  skeletonComplete,
  skeletonScript,
  type NftRuleRef,
} from './nft.js';
import type {
  AttachOptions,
  EtcFiles,
  EtcFilesOptions,
  NetworkAttachment,
  NetworkInspect,
  NetworkManagerOptions,
  NetworkRecord,
  PortMapping,
} from './types.js';

export const DEFAULT_NETWORK = 'bridge';
export const DEFAULT_BRIDGE = 'tvctl0';
/** Tried in order for the default network; the first one not overlapping a host route wins. */
export const DEFAULT_SUBNETS = ['10.88.0.0/16', '10.87.0.0/16', '172.30.0.0/16', '192.168.240.0/20'];
/** User networks get the first free /24 from these pools. */
export const USER_POOLS = ['10.89.0.0/16', '10.90.0.0/16', '10.91.0.0/16'];
const RESERVED_NAMES = new Set(['none', 'host', 'bridge', 'default', 'container']);
const NETNS_DIR = '/run/netns';

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
/** Interfaces a container may have: eth0 from attach, eth1..eth9 from connect. */
export const MAX_INTERFACES = 10;

/** tvbr-<name> when the name is short and plain, else tvbr-<10 hex of its hash>; always ≤ 15 chars. */
export function bridgeNameFor(network: string): string {
  if (network === DEFAULT_NETWORK) return DEFAULT_BRIDGE;
  if (/^[a-z0-9-]{1,10}$/.test(network)) return `tvbr-${network}`;
  return `tvbr-${createHash('sha256').update(network).digest('hex').slice(0, 10)}`;
}

export function validateNetworkName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name)) {
    throw new TvctlError('BAD_NAME', `invalid network name "${name}": use letters, digits, "_", "." and "-" (max 64)`);
  }
}

/** What is persisted for each container attached to a bridge network (<data>/network/endpoints/<key>.json). */
export interface EndpointRecord {
  containerId: string;
  key: string;
  /** 0 for eth0 (attach), N for ethN (connect). */
  index?: number;
  ifname?: string;
  network: string;
  bridge: string;
  netns: string;
  hostVeth: string;
  ipAddress: string;
  prefixLen: number;
  gateway?: string;
  macAddress: string;
  ports: PortMapping[];
  hostname: string;
  aliases: string[];
  /** Set by writeEtcFiles: where the container's hosts file lives, so peers' arrivals can update it. */
  etc?: { dir: string; addHosts: string[] };
}

interface HostRoute {
  dst: string;
  dev?: string;
}

export class NetworkManager {
  readonly stateRoot: string;
  readonly dataRoot: string;
  private readonly dir: string;
  private readonly lockPath: string;
  private readonly ipam: Ipam;

  constructor(opts: NetworkManagerOptions) {
    this.stateRoot = opts.stateRoot;
    this.dataRoot = opts.dataRoot;
    this.dir = join(opts.dataRoot, 'network');
    this.lockPath = opts.lockPath ?? '/run/lock/tvctl-network.lock';
    this.ipam = new Ipam(join(this.dir, 'ipam'));
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
    const network = mode === 'bridge' ? await this.resolveForAttach(opts.network) : undefined;
    const created = await runCommand(ipCmd.netnsAdd(ns), { allowFailure: true });
    if (created.exitCode !== 0) {
      throw new TvctlError(
        'NETNS_EXISTS',
        `cannot create network namespace ${ns}: ${created.stderr.trim()}; if it is left over, run detach for ${containerId}`,
      );
    }
    try {
      if (!network) {
        await runCommand(ipCmd.linkUpIn(ns, 'lo'));
        return { mode: 'none', netnsPath, ports: [] };
      }
      return await this.attachBridge(containerId, network, opts, ns, netnsPath);
    } catch (err) {
      await this.detach(containerId).catch(() => undefined);
      throw err;
    }
  }

  private async attachBridge(
    containerId: string,
    networkName: string,
    opts: AttachOptions,
    ns: string,
    netnsPath: string,
    index = 0,
  ): Promise<NetworkAttachment> {
    const key = containerKey(containerId);
    const hostVeth = hostVethFor(containerId, index);
    const ifname = `eth${index}`;
    await runCommand(ipCmd.vethAdd(hostVeth, ns, ifname));
    const ep = await this.locked(async () => {
      const net = await this.resolveNetwork(networkName);
      if (index === 0) await this.gcStale();
      await this.ensureKernelNetwork(net);
      const ipAddress = await this.ipam.allocate(net.name, net.subnet, net.gateway, containerId);
      const ports = await this.allocatePorts(opts.ports);
      const s = parseSubnet(net.subnet);
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
        prefixLen: s.prefixLen,
        ...(net.internal ? {} : { gateway: net.gateway }),
        macAddress: macForIp(ipAddress),
        ports,
        hostname: opts.hostname,
        aliases: opts.aliases ?? [],
      };
      await this.writeEndpoint(rec);
      const plug = ipBatch(undefined, bridgePortLines(hostVeth, net.bridge));
      await runCommand(plug.cmd, { input: plug.input });
      return rec;
    });
    const setup = ipBatch(
      ns,
      netnsSetupLines({ mac: ep.macAddress, cidr: `${ep.ipAddress}/${ep.prefixLen}`, gateway: ep.gateway, ifname }),
    );
    await runCommand(setup.cmd, { input: setup.input });
    if (ep.ports.length > 0) await this.nft(portRulesScript(key, ep.ipAddress, ep.ports));
    return {
      mode: 'bridge',
      network: ep.network,
      netnsPath,
      ipAddress: ep.ipAddress,
      prefixLen: ep.prefixLen,
      ...(ep.gateway ? { gateway: ep.gateway } : {}),
      macAddress: ep.macAddress,
      hostVeth,
      ports: ep.ports,
    };
  }

  /**
   * Remove everything attach created for the container: its nft rules, veth, netns and lease, and the
   * network's bridge when it was the last one on it. Idempotent; works from names and the persisted lease
   * alone, so it is safe after a crash or kill -9 at any point.
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
      // Derived from names: tv<key> and tv<key>1..9 (interfaces added by connect).
      const prefix = hostVethFor(containerId);
      const links = parseJsonArray((await runCommand(ipCmd.linkList())).stdout) as Array<{ ifname?: string }>;
      for (const l of links) {
        const name = (l.ifname ?? '').split('@')[0]!;
        if (name === prefix || (name.startsWith(prefix) && /^\d$/.test(name.slice(prefix.length))))
          await this.deleteLinkIfPresent(name);
      }
    });
    await step('netns', async () => {
      if (await exists(netnsPathFor(containerId))) await runCommand(ipCmd.netnsDelete(netnsNameFor(containerId)));
    });
    await step('firewall rules and lease', () =>
      this.locked(async () => {
        const eps = (await this.readEndpoints()).filter((e) => e.key === key);
        const released = await this.ipam.releaseAll((id) => containerKey(id) === key);
        for (const e of eps) await rm(this.endpointPath(key, e.index ?? 0), { force: true });
        await rm(this.endpointPath(key), { force: true });
        const nets = new Set([...released.map((l) => l.network), ...eps.map((e) => e.network)]);
        const bridges = new Set(eps.map((e) => e.bridge));
        for (const name of nets) {
          const net = await this.readRecord(name);
          if (net) bridges.add(net.bridge);
        }
        const gone: string[] = [];
        for (const b of bridges) if (await this.removeBridgeIfUnused(b)) gone.push(b);
        // One nft batch: the container's rules, the rules of bridges that went, and the table if nothing is left.
        await this.deleteRules(
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
    if (network === 'none' || network === 'host') {
      throw new TvctlError('BAD_USAGE', `cannot connect a container to the "${network}" network; use it at run time`);
    }
    const name = await this.resolveForAttach(network);
    if (!(await exists(netnsPathFor(containerId)))) {
      throw new TvctlError(
        'NOT_RUNNING',
        `container ${containerId.slice(0, 12)} has no network namespace; start it first`,
      );
    }
    const mine = (await this.readEndpoints()).filter((e) => e.key === key);
    const primary = mine.find((e) => (e.index ?? 0) === 0);
    if (!primary)
      throw new TvctlError(
        'BAD_USAGE',
        `container ${containerId.slice(0, 12)} is not on a bridge network; networks can be connected only to those`,
      );
    if (mine.some((e) => e.network === name)) {
      throw new TvctlError(
        'ALREADY_CONNECTED',
        `container ${containerId.slice(0, 12)} is already connected to network "${name}"`,
      );
    }
    const used = new Set(mine.map((e) => e.index ?? 0));
    let index = 1;
    while (used.has(index)) index++;
    if (index >= MAX_INTERFACES)
      throw new TvctlError(
        'TOO_MANY_NETWORKS',
        `container ${containerId.slice(0, 12)} is on ${MAX_INTERFACES} networks already`,
      );
    try {
      const att = await this.attachBridge(
        containerId,
        name,
        { network: name, ports: [], hostname: primary.hostname, aliases: opts.aliases ?? primary.aliases },
        netnsNameFor(containerId),
        netnsPathFor(containerId),
        index,
      );
      await this.locked(() => this.refreshHosts([name, ...mine.map((e) => e.network)]));
      return att;
    } catch (err) {
      await this.disconnect(containerId, name).catch(() => undefined);
      throw err;
    }
  }

  /** Undo connect: remove ethN's veth, its lease and endpoint; the bridge goes with its last port. */
  async disconnect(containerId: string, network: string): Promise<void> {
    const key = containerKey(containerId);
    const name = network === DEFAULT_NETWORK ? network : (await this.findNetwork(network)).name;
    const mine = (await this.readEndpoints()).filter((e) => e.key === key);
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
    if (ep) await this.deleteLinkIfPresent(ep.hostVeth);
    await this.locked(async () => {
      for (const l of leases) await this.ipam.release(l.network, l.ip);
      if (ep) await rm(this.endpointPath(key, ep.index ?? 0), { force: true });
      const net = await this.readRecord(name);
      if (net) await this.teardownKernelNetworkIfUnused(net);
      await this.refreshHosts(mine.map((e) => e.network));
    });
  }

  /** The persisted endpoint of a container (published ports, address), or undefined. */
  async endpoint(containerId: string): Promise<EndpointRecord | undefined> {
    return this.readEndpoint(containerKey(containerId));
  }

  // ---------------------------------------------------------------- /etc files

  async writeEtcFiles(
    containerId: string,
    attachment: NetworkAttachment,
    dir: string,
    opts: EtcFilesOptions,
  ): Promise<EtcFiles> {
    const extra = opts.addHosts.map(parseAddHost);
    await fast.mkdir(dir, { recursive: true });
    const files: EtcFiles = {
      hosts: join(dir, 'hosts'),
      hostname: join(dir, 'hostname'),
      resolvConf: join(dir, 'resolv.conf'),
    };
    const hostResolv = await fast.readFile('/etc/resolv.conf', 'utf8').catch(() => '');
    await fast.writeFile(files.resolvConf, renderResolvConf(hostResolv, opts.dns, attachment.mode === 'host'));
    await fast.writeFile(files.hostname, `${opts.hostname}\n`);
    if (attachment.mode === 'host') {
      const hostHosts = await fast.readFile('/etc/hosts', 'utf8').catch(() => '');
      await fast.writeFile(files.hosts, renderHostModeHosts(hostHosts, extra));
    } else if (attachment.mode === 'none' || !attachment.ipAddress) {
      await fast.writeFile(files.hosts, renderHosts({ extra, peers: [] }));
    } else {
      const key = containerKey(containerId);
      // Created here; the refresh below fills in the peers (and only ever rewrites existing files).
      await fast.writeFile(
        files.hosts,
        renderHosts({ self: { ip: attachment.ipAddress, names: [opts.hostname] }, extra, peers: [] }),
      );
      await this.locked(async () => {
        const ep = await this.readEndpoint(key);
        if (!ep) throw new TvctlError('NOT_ATTACHED', `container ${containerId} is not attached to a network`);
        ep.hostname = opts.hostname;
        ep.etc = { dir, addHosts: opts.addHosts };
        await this.writeEndpoint(ep);
        await this.refreshHosts([ep.network]);
      });
    }
    return files;
  }

  /**
   * Rewrite the hosts file of every container on any of these networks (in place: the files are
   * bind-mounted). Each lists the container's own addresses, then the other members of each of its user
   * networks (Docker semantics: no name resolution on the default bridge).
   */
  private async refreshHosts(networks: string[]): Promise<void> {
    const all = await this.readEndpoints();
    const touched = new Set(all.filter((e) => networks.includes(e.network)).map((e) => e.key));
    for (const key of touched) {
      const mine = all.filter((e) => e.key === key).sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
      const primary = mine.find((e) => (e.index ?? 0) === 0);
      if (!primary?.etc) continue;
      const names = [primary.hostname, ...primary.aliases];
      const peers: HostsEntry[] = [];
      for (const e of mine) {
        if (e.network === DEFAULT_NETWORK) continue;
        for (const p of all) {
          if (p.network !== e.network || p.key === key) continue;
          const owner = all.find((x) => x.key === p.key && (x.index ?? 0) === 0) ?? p;
          peers.push({ ip: p.ipAddress, names: [owner.hostname, ...owner.aliases] });
        }
      }
      const [first, ...more] = mine;
      const text = renderHosts({
        self: { ip: (first ?? primary).ipAddress, names },
        extra: [...more.map((e) => ({ ip: e.ipAddress, names })), ...primary.etc.addHosts.map(parseAddHost)],
        peers,
      });
      await rewriteInPlace(join(primary.etc.dir, 'hosts'), text);
    }
  }

  // ---------------------------------------------------------------- networks

  async create(
    name: string,
    opts: { subnet?: string; gateway?: string; internal?: boolean } = {},
  ): Promise<NetworkRecord> {
    validateNetworkName(name);
    if (RESERVED_NAMES.has(name)) {
      throw new TvctlError('RESERVED_NAME', `"${name}" is a pre-defined network name; choose another`);
    }
    return this.locked(async () => {
      if (await this.readRecord(name)) throw new TvctlError('NETWORK_EXISTS', `network "${name}" already exists`);
      const records = await this.readRecords();
      const bridge = bridgeNameFor(name);
      const clash = records.find((r) => r.bridge === bridge);
      if (clash)
        throw new TvctlError(
          'NETWORK_EXISTS',
          `network "${name}" would share bridge ${bridge} with "${clash.name}"; choose another name`,
        );
      const routes = await this.hostRoutes();
      let subnet: string;
      if (opts.subnet) {
        const s = parseSubnet(opts.subnet);
        subnet = formatSubnet(s);
        const other = records.find((r) => overlaps(parseSubnet(r.subnet), s));
        if (other)
          throw new TvctlError('SUBNET_OVERLAP', `subnet ${subnet} overlaps network "${other.name}" (${other.subnet})`);
        const route = routes.find((r) => overlapsRoute(s, r));
        if (route)
          throw new TvctlError(
            'SUBNET_OVERLAP',
            `subnet ${subnet} overlaps host route ${route.dst}${route.dev ? ` dev ${route.dev}` : ''}`,
          );
      } else {
        subnet = pickUserSubnet(
          records.map((r) => r.subnet),
          routes,
        );
      }
      const s = parseSubnet(subnet);
      let gateway = intToIp(firstHost(s));
      if (opts.gateway) {
        if (
          !isIPv4(opts.gateway) ||
          !contains(s, ipToInt(opts.gateway)) ||
          ipToInt(opts.gateway) === s.base ||
          ipToInt(opts.gateway) === s.base + 2 ** (32 - s.prefixLen) - 1
        ) {
          throw new TvctlError('BAD_GATEWAY', `gateway ${opts.gateway} is not a usable address of ${subnet}`);
        }
        gateway = opts.gateway;
      }
      const rec: NetworkRecord = {
        name,
        id: randomBytes(32).toString('hex'),
        driver: 'bridge',
        bridge,
        subnet,
        gateway,
        internal: opts.internal ?? false,
        created: new Date().toISOString(),
      };
      await this.writeRecord(rec);
      return rec;
    });
  }

  async list(): Promise<NetworkRecord[]> {
    const def = await this.resolveNetwork(DEFAULT_NETWORK);
    const rest = (await this.readRecords()).filter((r) => r.name !== DEFAULT_NETWORK);
    return [def, ...rest.sort((a, b) => a.name.localeCompare(b.name))];
  }

  async inspect(name: string): Promise<NetworkInspect> {
    const net = await this.findNetwork(name);
    const eps = new Map(
      (await this.readEndpoints()).filter((e) => e.network === net.name).map((e) => [e.containerId, e]),
    );
    const containers = (await this.ipam.leases(net.name)).map((l) => {
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
    if (name === DEFAULT_NETWORK || name === 'host' || name === 'none') {
      throw new TvctlError('RESERVED_NAME', `"${name}" is a pre-defined network and cannot be removed`);
    }
    await this.locked(async () => {
      const net = await this.findNetwork(name);
      await this.gcStale();
      const users = await this.ipam.leases(net.name);
      if (users.length > 0) {
        const ids = users.map((u) => u.containerId.slice(0, 12)).join(', ');
        throw new TvctlError('NETWORK_IN_USE', `network "${name}" is in use by container(s) ${ids}; remove them first`);
      }
      await this.teardownKernelNetworkIfUnused(net);
      await this.ipam.dropNetwork(net.name);
      await rm(this.recordPath(net.name), { force: true });
    });
  }

  private async findNetwork(name: string): Promise<NetworkRecord> {
    if (name === DEFAULT_NETWORK) return this.resolveNetwork(name);
    // Only well-formed names reach the file system (no "../" lookups).
    const valid = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name);
    let rec = valid ? await this.readRecord(name) : undefined;
    if (!rec && /^[0-9a-f]{3,64}$/.test(name)) {
      const byId = (await this.readRecords()).filter((r) => r.id.startsWith(name));
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

  private async resolveForAttach(name: string): Promise<string> {
    if (name === DEFAULT_NETWORK) return name;
    return (await this.findNetwork(name)).name;
  }

  /** A network record; the default `bridge` network is materialised on first use. */
  private async resolveNetwork(name: string): Promise<NetworkRecord> {
    const rec = await this.readRecord(name);
    if (rec) return rec;
    if (name !== DEFAULT_NETWORK) return this.findNetwork(name);
    const subnet = await this.pickDefaultSubnet();
    const s = parseSubnet(subnet);
    const def: NetworkRecord = {
      name: DEFAULT_NETWORK,
      id: createHash('sha256').update(`tvctl default bridge ${this.dataRoot}`).digest('hex'),
      driver: 'bridge',
      bridge: DEFAULT_BRIDGE,
      subnet,
      gateway: intToIp(firstHost(s)),
      internal: false,
      created: new Date().toISOString(),
    };
    await this.writeRecord(def);
    return def;
  }

  /** Adopt tvctl0's address when another tvctl already created it; else the first candidate off the routes. */
  private async pickDefaultSubnet(): Promise<string> {
    const existing = await this.bridgeAddress(DEFAULT_BRIDGE);
    if (existing) {
      const n = ipToInt(existing.ip);
      const mask = existing.prefixLen === 0 ? 0 : (0xffffffff << (32 - existing.prefixLen)) >>> 0;
      return `${intToIp((n & mask) >>> 0)}/${existing.prefixLen}`;
    }
    const routes = await this.hostRoutes();
    const records = (await this.readRecords()).map((r) => parseSubnet(r.subnet));
    for (const c of DEFAULT_SUBNETS) {
      const s = parseSubnet(c);
      if (!routes.some((r) => overlapsRoute(s, r)) && !records.some((r) => overlaps(r, s))) return c;
    }
    throw new TvctlError('NO_SUBNET', `no free subnet for the default network among ${DEFAULT_SUBNETS.join(', ')}`);
  }

  // ---------------------------------------------------------------- kernel objects (called under the lock)

  private async ensureKernelNetwork(net: NetworkRecord): Promise<void> {
    let rules = await this.listRules();
    if (rules !== undefined && !skeletonComplete(rules)) {
      if (rules.some((r) => r.comment !== undefined)) {
        throw new TvctlError(
          'NFT_DAMAGED',
          `nftables table ip tvctl is incomplete but holds rules; inspect it with "nft -a list table ip tvctl"`,
        );
      }
      await this.nft(deleteTableScript());
      rules = undefined;
    }
    const addr = await this.bridgeAddress(net.bridge);
    const prefixLen = parseSubnet(net.subnet).prefixLen;
    if (addr === undefined) {
      const b = ipBatch(undefined, bridgeCreateLines(net.bridge, `${net.gateway}/${prefixLen}`));
      await runCommand(b.cmd, { input: b.input });
      await runCommand(sysctlSet(sysctlKeys.routeLocalnet(net.bridge), '1'));
    } else if (addr === null || addr.ip !== net.gateway || addr.prefixLen !== prefixLen) {
      throw new TvctlError(
        'BRIDGE_MISMATCH',
        `bridge ${net.bridge} exists with address ${addr ? `${addr.ip}/${addr.prefixLen}` : 'none'}, not ${net.gateway}/${prefixLen} of network "${net.name}"; remove it ("ip link delete ${net.bridge}") if it is left over`,
      );
    }
    if (!(rules ?? []).some((r) => r.comment === networkComment(net.bridge))) {
      const netRules = networkRulesScript({ bridge: net.bridge, subnet: net.subnet, internal: net.internal });
      await this.nft((rules === undefined ? skeletonScript() : '') + netRules);
    }
    if (!net.internal) {
      const fwd = (await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8').catch(() => '0')).trim();
      if (fwd !== '1') await runCommand(sysctlSet(sysctlKeys.ipForward, '1'));
    }
  }

  /** Bridges live only while something is plugged in: the last detach removes the bridge and its rules. */
  private async teardownKernelNetworkIfUnused(net: NetworkRecord): Promise<void> {
    if (await this.removeBridgeIfUnused(net.bridge)) {
      await this.deleteRules((r) => r.comment === networkComment(net.bridge));
    }
  }

  /** Deletes the bridge when no port is enslaved; true when it is gone (or was never there). */
  private async removeBridgeIfUnused(bridge: string): Promise<boolean> {
    const ports = await runCommand(ipCmd.bridgePorts(bridge), { allowFailure: true });
    if (ports.exitCode !== 0) return true; // no such device
    if (parseJsonArray(ports.stdout).length > 0) return false;
    await this.deleteLinkIfPresent(bridge);
    return true;
  }

  private async deleteLinkIfPresent(dev: string): Promise<void> {
    const r = await runCommand(ipCmd.linkDelete(dev), { allowFailure: true });
    if (r.exitCode !== 0 && !/Cannot find device|does not exist/i.test(r.stderr)) {
      throw new TvctlError('COMMAND_FAILED', `ip link delete ${dev} failed: ${r.stderr.trim()}`);
    }
  }

  /** Delete matching rules by handle; drop the table once only the skeleton is left. Under the lock. */
  private async deleteRules(match: (r: NftRuleRef) => boolean): Promise<void> {
    const rules = await this.listRules();
    if (rules === undefined) return;
    const doomed = rules.filter(match);
    const dropTable = onlySkeletonLeft(rules.filter((r) => !doomed.includes(r)));
    // Deleting the table takes its rules with it.
    const script = dropTable ? deleteTableScript() : doomed.length > 0 ? deleteRulesScript(doomed) : '';
    if (script) await this.nft(script);
  }

  /** Rules of table ip tvctl, or undefined when the table does not exist. */
  private async listRules(): Promise<NftRuleRef[] | undefined> {
    const r = await runCommand(nftCmd.listTable(), { allowFailure: true });
    if (r.exitCode !== 0) return undefined;
    return parseRules(r.stdout);
  }

  private async nft(script: string): Promise<void> {
    await runCommand(nftCmd.apply(), { input: script });
  }

  /** The bridge's IPv4 address: undefined = no such link, null = link without IPv4 address. */
  private async bridgeAddress(dev: string): Promise<{ ip: string; prefixLen: number } | null | undefined> {
    const r = await runCommand(ipCmd.addrShow(dev), { allowFailure: true });
    if (r.exitCode !== 0) return undefined;
    const links = parseJsonArray(r.stdout) as Array<{
      addr_info?: Array<{ family?: string; local?: string; prefixlen?: number }>;
    }>;
    if (links.length === 0) return undefined;
    const a = links[0]?.addr_info?.find((x) => x.family === 'inet' && x.local);
    return a?.local ? { ip: a.local, prefixLen: a.prefixlen ?? 32 } : null;
  }

  private async hostRoutes(): Promise<HostRoute[]> {
    const r = await runCommand(ipCmd.routesV4());
    return (parseJsonArray(r.stdout) as Array<{ dst?: string; dev?: string }>)
      .filter((x) => x.dst && x.dst !== 'default')
      .map((x) => ({ dst: x.dst!, ...(x.dev ? { dev: x.dev } : {}) }));
  }

  // ---------------------------------------------------------------- ports

  private async allocatePorts(requested: readonly PortMapping[]): Promise<PortMapping[]> {
    if (requested.length === 0) return [];
    // Ours (persisted) and every tvctl's (the kernel's DNAT rules, whatever data root they came from).
    const listing = await runCommand(nftCmd.listTable(), { allowFailure: true });
    const inUse = [
      ...(await this.readEndpoints()).flatMap((e) => e.ports),
      ...(listing.exitCode === 0 ? parsePublishedPorts(listing.stdout) : []),
    ];
    const out: PortMapping[] = [];
    const clash = (p: Pick<PortMapping, 'hostIp' | 'hostPort' | 'protocol'>): boolean =>
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

  // ---------------------------------------------------------------- persistence

  /** Drop leases and endpoint records whose netns is gone (crash before detach, reboot). */
  private async gcStale(): Promise<void> {
    for (const l of await this.ipam.allLeases()) {
      if (!(await exists(netnsPathFor(l.containerId)))) await this.ipam.release(l.network, l.ip);
    }
    for (const ep of await this.readEndpoints()) {
      if (!(await exists(`${NETNS_DIR}/${ep.netns}`)))
        await rm(this.endpointPath(ep.key, ep.index ?? 0), { force: true });
    }
  }

  private recordPath(name: string): string {
    return join(this.dir, 'networks', `${name}.json`);
  }
  private endpointPath(key: string, index = 0): string {
    return join(this.dir, 'endpoints', index === 0 ? `${key}.json` : `${key}.${index}.json`);
  }
  private async readRecord(name: string): Promise<NetworkRecord | undefined> {
    return readJson<NetworkRecord>(this.recordPath(name));
  }
  private async readRecords(): Promise<NetworkRecord[]> {
    return readJsonDir<NetworkRecord>(join(this.dir, 'networks'));
  }
  private async writeRecord(rec: NetworkRecord): Promise<void> {
    await writeJsonAtomic(this.recordPath(rec.name), rec);
  }
  private async readEndpoint(key: string): Promise<EndpointRecord | undefined> {
    return readJson<EndpointRecord>(this.endpointPath(key));
  }
  private async readEndpoints(): Promise<EndpointRecord[]> {
    return readJsonDir<EndpointRecord>(join(this.dir, 'endpoints'));
  }
  private async writeEndpoint(ep: EndpointRecord): Promise<void> {
    await writeJsonAtomic(this.endpointPath(ep.key, ep.index ?? 0), ep);
  }
}

// ---------------------------------------------------------------- helpers

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

function overlapsRoute(s: { base: number; prefixLen: number }, r: HostRoute): boolean {
  const [addr, len] = r.dst.split('/');
  if (!addr || !isIPv4(addr)) return false;
  const prefixLen = len === undefined ? 32 : Number(len);
  const mask = prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
  return overlaps(s, { base: (ipToInt(addr) & mask) >>> 0, prefixLen });
}

function parseJsonArray(text: string): unknown[] {
  if (text.trim() === '') return [];
  const v = JSON.parse(text) as unknown;
  return Array.isArray(v) ? v : [];
}

/**
 * Replace a file's content keeping its inode (it is bind-mounted into a container), never creating it: a
 * container being removed concurrently must not get its files recreated under its state dir.
 */
async function rewriteInPlace(path: string, text: string): Promise<void> {
  let fh;
  try {
    fh = await open(path, 'r+');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return;
    throw err;
  }
  try {
    await fh.truncate(0);
    await fh.write(text, 0, 'utf8');
  } finally {
    await fh.close();
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

async function readJsonDir<T>(dir: string): Promise<T[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const out: T[] = [];
  for (const n of names.filter((x) => x.endsWith('.json')).sort()) {
    const v = await readJson<T>(join(dir, n)).catch(() => undefined);
    if (v) out.push(v);
  }
  return out;
}

async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  const tmp = `${path}.tmp.${process.pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(tmp, JSON.stringify(value, null, 2) + '\n');
  await rename(tmp, path).catch(async (err: unknown) => {
    await unlink(tmp).catch(() => undefined);
    throw err;
  });
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
