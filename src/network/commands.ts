import type { CommandLine } from '../util/exec.js';

/**
 * Pure builders of every iproute2 / sysctl command line the network library runs. Executed by runCommand
 * (src/util/exec.ts); unit tests check them without root.
 */

const ip = (...args: string[]): CommandLine => ({ file: 'ip', args });

export const ipCmd = {
  netnsAdd: (ns: string): CommandLine => ip('netns', 'add', ns),
  netnsDelete: (ns: string): CommandLine => ip('netns', 'delete', ns),
  netnsList: (): CommandLine => ip('-j', 'netns', 'list'),
  /** Bring a device up inside a named netns (lo, eth0). */
  linkUpIn: (ns: string, dev: string): CommandLine => ip('-n', ns, 'link', 'set', 'dev', dev, 'up'),
  linkSetAddressIn: (ns: string, dev: string, mac: string): CommandLine =>
    ip('-n', ns, 'link', 'set', 'dev', dev, 'address', mac),
  addrAddIn: (ns: string, dev: string, cidr: string): CommandLine => ip('-n', ns, 'addr', 'add', cidr, 'dev', dev),
  routeDefaultIn: (ns: string, gateway: string): CommandLine => ip('-n', ns, 'route', 'add', 'default', 'via', gateway),
  /** veth pair whose peer is created directly inside the netns as eth0: no temporary name on the host. */
  vethAdd: (hostDev: string, ns: string, peer = 'eth0'): CommandLine =>
    ip('link', 'add', hostDev, 'type', 'veth', 'peer', 'name', peer, 'netns', ns),
  bridgeAdd: (bridge: string): CommandLine => ip('link', 'add', 'name', bridge, 'type', 'bridge'),
  addrAdd: (dev: string, cidr: string): CommandLine => ip('addr', 'add', cidr, 'dev', dev),
  linkUp: (dev: string): CommandLine => ip('link', 'set', 'dev', dev, 'up'),
  linkSetMasterUp: (dev: string, bridge: string): CommandLine => ip('link', 'set', 'dev', dev, 'master', bridge, 'up'),
  linkDelete: (dev: string): CommandLine => ip('link', 'delete', 'dev', dev),
  linkShow: (dev: string): CommandLine => ip('-j', 'link', 'show', 'dev', dev),
  linkList: (): CommandLine => ip('-j', 'link', 'show'),
  addrShow: (dev: string): CommandLine => ip('-j', '-4', 'addr', 'show', 'dev', dev),
  /** Ports enslaved to a bridge (empty list = nobody attached). */
  bridgePorts: (bridge: string): CommandLine => ip('-j', 'link', 'show', 'master', bridge),
  routesV4: (): CommandLine => ip('-j', '-4', 'route', 'show', 'table', 'main'),
};

/** `sysctl -q -w KEY=VALUE`; interface names are restricted to [a-z0-9-] so the dotted form is unambiguous. */
export function sysctlSet(key: string, value: string): CommandLine {
  return { file: 'sysctl', args: ['-q', '-w', `${key}=${value}`] };
}

export const sysctlKeys = {
  ipForward: 'net.ipv4.ip_forward',
  /** Lets DNAT'ed packets with a 127.0.0.0/8 source leave through the bridge (published ports on localhost). */
  routeLocalnet: (dev: string): string => `net.ipv4.conf.${dev}.route_localnet`,
};

/**
 * Several ip commands in one process (`ip [-n NS] -batch -`): each spawn costs tens of milliseconds here, and
 * the commands of one step always go together. Stops at the first failing line. Tokens never contain spaces.
 */
export function ipBatch(
  ns: string | undefined,
  lines: readonly (readonly string[])[],
): { cmd: CommandLine; input: string } {
  return {
    cmd: { file: 'ip', args: [...(ns ? ['-n', ns] : []), '-batch', '-'] },
    input: lines.map((l) => l.join(' ')).join('\n') + '\n',
  };
}

/**
 * Inside the container's netns: lo up (first interface only), ethN MAC + address + up, and the default route
 * for the first interface unless its network is internal (networks connected later get their subnet only).
 */
export function netnsSetupLines(opts: {
  mac: string;
  cidr: string;
  gateway?: string | undefined;
  ifname?: string;
}): string[][] {
  const dev = opts.ifname ?? 'eth0';
  const first = dev === 'eth0';
  return [
    ...(first ? [['link', 'set', 'dev', 'lo', 'up']] : []),
    ['link', 'set', 'dev', dev, 'address', opts.mac],
    ['addr', 'add', opts.cidr, 'dev', dev],
    ['link', 'set', 'dev', dev, 'up'],
    ...(opts.gateway && first ? [['route', 'add', 'default', 'via', opts.gateway]] : []),
  ];
}

/** A network's bridge: create, gateway address, up. */
export function bridgeCreateLines(bridge: string, gatewayCidr: string): string[][] {
  return [
    ['link', 'add', 'name', bridge, 'type', 'bridge'],
    ['addr', 'add', gatewayCidr, 'dev', bridge],
    ['link', 'set', 'dev', bridge, 'up'],
  ];
}

/**
 * Plug the host end of a veth into the bridge, up, with hairpin on: with br_netfilter loaded, a container's
 * packets to its own published port are DNAT'ed in the bridge path and must leave by the port they came in.
 */
export function bridgePortLines(dev: string, bridge: string): string[][] {
  return [
    ['link', 'set', 'dev', dev, 'master', bridge, 'up'],
    ['link', 'set', 'dev', dev, 'type', 'bridge_slave', 'hairpin', 'on'],
  ];
}
