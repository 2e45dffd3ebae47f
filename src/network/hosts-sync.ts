import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno } from '../errors.js';
import * as fast from '../util/fs-fast.js';
import { parseAddHost, renderHostModeHosts, renderHosts, renderResolvConf, type HostsEntry } from './etc.js';
import { DEFAULT_NETWORK } from './names.js';
import type { EndpointRecord } from './records.js';
import type { EtcFiles, EtcFilesOptions, NetworkAttachment } from './types.js';

/**
 * A container's /etc/hosts, /etc/hostname and /etc/resolv.conf: written at start, and the hosts files of
 * every container on a user network kept listing its peers as they come and go.
 */

/**
 * Writes the three files into `dir`. On a bridge network the hosts file lists only the container itself
 * here; the caller fills in the peers with `syncHostsFiles` once the endpoint knows where the file is.
 */
export async function writeEtcFileSet(
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
    await fast.writeFile(
      files.hosts,
      renderHosts({ self: { ip: attachment.ipAddress, names: [opts.hostname] }, extra, peers: [] }),
    );
  }
  return files;
}

/**
 * The hosts file of every container on any of these networks. Each lists the container's own addresses,
 * then the other members of each of its user networks (Docker semantics: no name resolution on the default
 * bridge). Containers whose files were never written (no `etc`) are left out.
 */
export function hostsFilesFor(
  all: readonly EndpointRecord[],
  networks: readonly string[],
): Array<{ path: string; text: string }> {
  const touched = new Set(all.filter((e) => networks.includes(e.network)).map((e) => e.key));
  const out: Array<{ path: string; text: string }> = [];
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
    out.push({ path: join(primary.etc.dir, 'hosts'), text });
  }
  return out;
}

/** Rewrites the hosts files of every container on any of these networks (see hostsFilesFor). */
export async function syncHostsFiles(all: readonly EndpointRecord[], networks: readonly string[]): Promise<void> {
  for (const f of hostsFilesFor(all, networks)) await rewriteInPlace(f.path, f.text);
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
