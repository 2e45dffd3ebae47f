import { readFile } from 'node:fs/promises';
import { TvctlError } from '../errors.js';
import { runCommand, type CommandLine, type CommandResult } from '../util/exec.js';
import { parseSubnet } from './cidr.js';
import {
  bridgeCreateLines,
  bridgePortLines,
  ipBatch,
  ipCmd,
  netnsSetupLines,
  sysctlKeys,
  sysctlSet,
} from './commands.js';
import {
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
import type { HostRoute } from './subnets.js';
import type { NetworkRecord, PortMapping } from './types.js';

export interface RunOptions {
  /** A non-zero exit is returned instead of thrown. */
  allowFailure?: boolean;
  /** Text fed to the program's stdin. */
  input?: string;
}

/** Executes command lines; `hostRunner` runs them for real, unit tests pass a recording fake. */
export interface CommandRunner {
  run(cmd: CommandLine, opts?: RunOptions): Promise<CommandResult>;
}

export const hostRunner: CommandRunner = { run: (cmd, opts) => runCommand(cmd, opts) };

/**
 * The kernel objects of tvctl networking (bridges, veth pairs, named netns, the nft table), driven through
 * `ip`, `nft` and `sysctl` command lines from the pure builders. Methods that change shared objects (bridges,
 * the nft table) are called under the host-wide network lock.
 */
export class NetworkKernel {
  constructor(private readonly runner: CommandRunner = hostRunner) {}

  /** Creates a named netns; the result carries `ip`'s stderr when it already exists. */
  netnsAdd(ns: string): Promise<CommandResult> {
    return this.runner.run(ipCmd.netnsAdd(ns), { allowFailure: true });
  }

  async netnsDelete(ns: string): Promise<void> {
    await this.runner.run(ipCmd.netnsDelete(ns));
  }

  async loopbackUp(ns: string): Promise<void> {
    await this.runner.run(ipCmd.linkUpIn(ns, 'lo'));
  }

  /** A veth pair whose peer is created directly inside the netns as `ifname`. */
  async vethAdd(hostVeth: string, ns: string, ifname: string): Promise<void> {
    await this.runner.run(ipCmd.vethAdd(hostVeth, ns, ifname));
  }

  async plugIntoBridge(hostVeth: string, bridge: string): Promise<void> {
    await this.batch(undefined, bridgePortLines(hostVeth, bridge));
  }

  /** MAC, address and up for the interface inside the netns (lo and the default route for eth0 only). */
  async configureInterface(
    ns: string,
    opts: { ifname: string; mac: string; cidr: string; gateway?: string | undefined },
  ): Promise<void> {
    await this.batch(ns, netnsSetupLines(opts));
  }

  async publishPorts(key: string, containerIp: string, ports: readonly PortMapping[]): Promise<void> {
    if (ports.length > 0) await this.nft(portRulesScript(key, containerIp, ports));
  }

  /** Names of every link on the host (without the `@peer` suffix). */
  async linkNames(): Promise<string[]> {
    const links = parseJsonArray((await this.runner.run(ipCmd.linkList())).stdout) as Array<{ ifname?: string }>;
    return links.map((l) => (l.ifname ?? '').split('@')[0]!);
  }

  async deleteLinkIfPresent(dev: string): Promise<void> {
    const r = await this.runner.run(ipCmd.linkDelete(dev), { allowFailure: true });
    if (r.exitCode !== 0 && !/Cannot find device|does not exist/i.test(r.stderr)) {
      throw new TvctlError('COMMAND_FAILED', `ip link delete ${dev} failed: ${r.stderr.trim()}`);
    }
  }

  /**
   * The network's bridge with its gateway address, the nft table's skeleton and the network's rules, and IP
   * forwarding for networks with a way out. Adopts a bridge that is already there with the right address.
   */
  async ensureNetwork(net: NetworkRecord): Promise<void> {
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
      await this.batch(undefined, bridgeCreateLines(net.bridge, `${net.gateway}/${prefixLen}`));
      await this.runner.run(sysctlSet(sysctlKeys.routeLocalnet(net.bridge), '1'));
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
      if (fwd !== '1') await this.runner.run(sysctlSet(sysctlKeys.ipForward, '1'));
    }
  }

  /** Bridges live only while something is plugged in: the last detach removes the bridge and its rules. */
  async teardownNetworkIfUnused(net: NetworkRecord): Promise<void> {
    if (await this.removeBridgeIfUnused(net.bridge)) {
      await this.deleteRules((r) => r.comment === networkComment(net.bridge));
    }
  }

  /** Deletes the bridge when no port is enslaved; true when it is gone (or was never there). */
  async removeBridgeIfUnused(bridge: string): Promise<boolean> {
    const ports = await this.runner.run(ipCmd.bridgePorts(bridge), { allowFailure: true });
    if (ports.exitCode !== 0) return true; // no such device
    if (parseJsonArray(ports.stdout).length > 0) return false;
    await this.deleteLinkIfPresent(bridge);
    return true;
  }

  /** Delete matching rules by handle; drop the table once only the skeleton is left. */
  async deleteRules(match: (r: NftRuleRef) => boolean): Promise<void> {
    const rules = await this.listRules();
    if (rules === undefined) return;
    const doomed = rules.filter(match);
    const dropTable = onlySkeletonLeft(rules.filter((r) => !doomed.includes(r)));
    // Deleting the table takes its rules with it.
    const script = dropTable ? deleteTableScript() : doomed.length > 0 ? deleteRulesScript(doomed) : '';
    if (script) await this.nft(script);
  }

  /** Host ports every tvctl on this host publishes (the kernel's DNAT rules, whatever data root they came from). */
  async publishedPorts(): Promise<Array<Pick<PortMapping, 'hostIp' | 'hostPort' | 'protocol'>>> {
    const listing = await this.runner.run(nftCmd.listTable(), { allowFailure: true });
    return listing.exitCode === 0 ? parsePublishedPorts(listing.stdout) : [];
  }

  /** The bridge's IPv4 address: undefined = no such link, null = link without IPv4 address. */
  async bridgeAddress(dev: string): Promise<{ ip: string; prefixLen: number } | null | undefined> {
    const r = await this.runner.run(ipCmd.addrShow(dev), { allowFailure: true });
    if (r.exitCode !== 0) return undefined;
    const links = parseJsonArray(r.stdout) as Array<{
      addr_info?: Array<{ family?: string; local?: string; prefixlen?: number }>;
    }>;
    if (links.length === 0) return undefined;
    const a = links[0]?.addr_info?.find((x) => x.family === 'inet' && x.local);
    return a?.local ? { ip: a.local, prefixLen: a.prefixlen ?? 32 } : null;
  }

  async hostRoutes(): Promise<HostRoute[]> {
    const r = await this.runner.run(ipCmd.routesV4());
    return (parseJsonArray(r.stdout) as Array<{ dst?: string; dev?: string }>)
      .filter((x) => x.dst && x.dst !== 'default')
      .map((x) => ({ dst: x.dst!, ...(x.dev ? { dev: x.dev } : {}) }));
  }

  /** Rules of table ip tvctl, or undefined when the table does not exist. */
  private async listRules(): Promise<NftRuleRef[] | undefined> {
    const r = await this.runner.run(nftCmd.listTable(), { allowFailure: true });
    if (r.exitCode !== 0) return undefined;
    return parseRules(r.stdout);
  }

  private async nft(script: string): Promise<void> {
    await this.runner.run(nftCmd.apply(), { input: script });
  }

  /** One `ip [-n NS] -batch -` process for the lines of one step. */
  private async batch(ns: string | undefined, lines: readonly (readonly string[])[]): Promise<void> {
    const b = ipBatch(ns, lines);
    await this.runner.run(b.cmd, { input: b.input });
  }
}

function parseJsonArray(text: string): unknown[] {
  if (text.trim() === '') return [];
  const v = JSON.parse(text) as unknown;
  return Array.isArray(v) ? v : [];
}
