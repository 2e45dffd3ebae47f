import type { CommandLine } from '../util/exec.js';
import type { PortMapping } from './types.js';

/**
 * nftables: everything tvctl installs lives in `table ip tvctl`, every rule carries a comment naming its owner
 * (`tvctl ctr <key>` for a container's published ports, `tvctl net <bridge>` for a network's NAT and
 * isolation rules), so teardown deletes exactly those rules by handle, from the kernel's own listing, even
 * after a crash. Scripts are built by pure functions and fed to `nft -f -`.
 */

export const NFT_FAMILY = 'ip';
export const NFT_TABLE = 'tvctl';
const T = `${NFT_FAMILY} ${NFT_TABLE}`;

export const nftCmd = {
  /** Run a script (atomic: the whole batch applies or nothing does). Pass the script as stdin. */
  apply: (): CommandLine => ({ file: 'nft', args: ['-f', '-'] }),
  /** JSON listing with handles; exits non-zero when the table does not exist. */
  listTable: (): CommandLine => ({ file: 'nft', args: ['-j', '-a', 'list', 'table', NFT_FAMILY, NFT_TABLE] }),
};

export const containerComment = (key: string): string => `tvctl ctr ${key}`;
export const networkComment = (bridge: string): string => `tvctl net ${bridge}`;

/**
 * The table's skeleton: base chains hooking NAT and forwarding, and the regular chains where per-network and
 * per-container rules go. Forward order matters: internal-network drops first, then DNAT'ed connections
 * (published ports) are accepted, then traffic between two different tvctl bridges is dropped.
 */
export function skeletonScript(): string {
  return [
    `add table ${T}`,
    `add chain ${T} publish`,
    `add chain ${T} fwd-internal`,
    `add chain ${T} fwd-isolate`,
    `add chain ${T} prerouting { type nat hook prerouting priority -100 ; policy accept ; }`,
    `add chain ${T} output { type nat hook output priority -100 ; policy accept ; }`,
    `add chain ${T} postrouting { type nat hook postrouting priority 100 ; policy accept ; }`,
    `add chain ${T} forward { type filter hook forward priority 0 ; policy accept ; }`,
    `add rule ${T} prerouting fib daddr type local jump publish`,
    `add rule ${T} output fib daddr type local jump publish`,
    `add rule ${T} forward jump fwd-internal`,
    `add rule ${T} forward ct status dnat accept`,
    `add rule ${T} forward jump fwd-isolate`,
    '',
  ].join('\n');
}

export interface NetworkRuleSpec {
  bridge: string;
  subnet: string;
  internal: boolean;
}

/** NAT and isolation rules of one network, tagged `tvctl net <bridge>`. */
export function networkRulesScript(n: NetworkRuleSpec): string {
  const c = `comment "${networkComment(n.bridge)}"`;
  const b = `"${n.bridge}"`;
  const lines = [
    // Host → published port on 127.0.0.1: the source must not stay 127.0.0.1 inside the container.
    `add rule ${T} postrouting ip saddr 127.0.0.0/8 oifname ${b} masquerade ${c}`,
    // Hairpin: a container reaching a published port of a neighbour through a host address.
    `add rule ${T} postrouting ip saddr ${n.subnet} oifname ${b} ct status dnat masquerade ${c}`,
    // Tenant isolation: nothing routed from this bridge into another tvctl bridge ("tv*" covers tvctl0, tvbr-*).
    `add rule ${T} fwd-isolate iifname ${b} oifname != ${b} oifname "tv*" drop ${c}`,
  ];
  if (n.internal) {
    lines.push(`add rule ${T} fwd-internal iifname ${b} oifname != ${b} drop ${c}`);
    lines.push(`add rule ${T} fwd-internal oifname ${b} iifname != ${b} drop ${c}`);
  } else {
    lines.push(`add rule ${T} postrouting ip saddr ${n.subnet} oifname != ${b} masquerade ${c}`);
  }
  return lines.join('\n') + '\n';
}

/** DNAT rules for one container's published ports, tagged `tvctl ctr <key>`. */
export function portRulesScript(key: string, containerIp: string, ports: readonly PortMapping[]): string {
  const c = `comment "${containerComment(key)}"`;
  return (
    ports
      .map((p) => {
        const dst = p.hostIp === '0.0.0.0' ? '' : `ip daddr ${p.hostIp} `;
        return `add rule ${T} publish ${dst}${p.protocol} dport ${p.hostPort} dnat to ${containerIp}:${p.containerPort} ${c}`;
      })
      .join('\n') + '\n'
  );
}

export interface NftRuleRef {
  chain: string;
  handle: number;
  comment?: string;
}

/** Rules of our table from `nft -j -a list table ip tvctl` output. */
export function parseRules(json: string): NftRuleRef[] {
  const doc = JSON.parse(json) as { nftables?: Array<Record<string, unknown>> };
  const out: NftRuleRef[] = [];
  for (const item of doc.nftables ?? []) {
    const rule = item['rule'] as { table?: string; chain?: string; handle?: number; comment?: string } | undefined;
    if (!rule || rule.table !== NFT_TABLE || typeof rule.handle !== 'number' || !rule.chain) continue;
    out.push({
      chain: rule.chain,
      handle: rule.handle,
      ...(rule.comment !== undefined ? { comment: rule.comment } : {}),
    });
  }
  return out;
}

export function deleteRulesScript(rules: readonly NftRuleRef[]): string {
  return rules.map((r) => `delete rule ${T} ${r.chain} handle ${r.handle}`).join('\n') + '\n';
}

export function deleteTableScript(): string {
  return `delete table ${T}\n`;
}

/** Rules that only make up the skeleton (no comment): when nothing else is left, the table can go. */
export function onlySkeletonLeft(rules: readonly NftRuleRef[]): boolean {
  return rules.every((r) => r.comment === undefined);
}

/** The skeleton's five jump/accept rules are all present (a table left half-made is rebuilt, not patched). */
export function skeletonComplete(rules: readonly NftRuleRef[]): boolean {
  const plain = rules.filter((r) => r.comment === undefined);
  const count = (chain: string): number => plain.filter((r) => r.chain === chain).length;
  return count('prerouting') === 1 && count('output') === 1 && count('forward') === 3;
}

/** Host side of every DNAT rule in our publish chain (any data root's containers), from the JSON listing. */
export function parsePublishedPorts(json: string): Array<Pick<PortMapping, 'hostIp' | 'hostPort' | 'protocol'>> {
  const doc = JSON.parse(json) as { nftables?: Array<Record<string, unknown>> };
  const out: Array<Pick<PortMapping, 'hostIp' | 'hostPort' | 'protocol'>> = [];
  type Match = { match?: { op?: string; left?: { payload?: { protocol?: string; field?: string } }; right?: unknown } };
  for (const item of doc.nftables ?? []) {
    const rule = item['rule'] as { table?: string; chain?: string; expr?: Match[] } | undefined;
    if (!rule || rule.table !== NFT_TABLE || rule.chain !== 'publish') continue;
    let hostIp = '0.0.0.0';
    let hostPort: number | undefined;
    let protocol: 'tcp' | 'udp' | undefined;
    for (const e of rule.expr ?? []) {
      const p = e.match?.left?.payload;
      if (!p || e.match?.op !== '==') continue;
      if (p.protocol === 'ip' && p.field === 'daddr' && typeof e.match?.right === 'string') hostIp = e.match.right;
      if ((p.protocol === 'tcp' || p.protocol === 'udp') && p.field === 'dport' && typeof e.match?.right === 'number') {
        protocol = p.protocol;
        hostPort = e.match.right;
      }
    }
    if (protocol && hostPort !== undefined) out.push({ hostIp, hostPort, protocol });
  }
  return out;
}
