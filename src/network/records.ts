import { writeFileAtomic } from '../util/atomic-write.js';
import { access, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno } from '../errors.js';
import type { Ipam } from './ipam.js';
import { NETNS_DIR, netnsPathFor } from './names.js';
import type { NetworkRecord, PortMapping } from './types.js';

/** What is persisted for each container interface on a bridge network (<data>/network/endpoints/<key>[.N].json). */
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

/**
 * The network library's files under <data>/network: one record per user network (`networks/<name>.json`) and
 * one per container interface (`endpoints/<key>[.<index>].json`). Names reaching here are validated.
 */
export class NetworkStore {
  constructor(readonly dir: string) {}

  readRecord(name: string): Promise<NetworkRecord | undefined> {
    return readJson<NetworkRecord>(this.recordPath(name));
  }
  readRecords(): Promise<NetworkRecord[]> {
    return readJsonDir<NetworkRecord>(join(this.dir, 'networks'));
  }
  writeRecord(rec: NetworkRecord): Promise<void> {
    return writeJsonAtomic(this.recordPath(rec.name), rec);
  }
  removeRecord(name: string): Promise<void> {
    return rm(this.recordPath(name), { force: true });
  }

  /** The container's eth0 endpoint. */
  readEndpoint(key: string): Promise<EndpointRecord | undefined> {
    return readJson<EndpointRecord>(this.endpointPath(key));
  }
  readEndpoints(): Promise<EndpointRecord[]> {
    return readJsonDir<EndpointRecord>(join(this.dir, 'endpoints'));
  }
  writeEndpoint(ep: EndpointRecord): Promise<void> {
    return writeJsonAtomic(this.endpointPath(ep.key, ep.index ?? 0), ep);
  }
  removeEndpoint(key: string, index = 0): Promise<void> {
    return rm(this.endpointPath(key, index), { force: true });
  }

  private recordPath(name: string): string {
    return join(this.dir, 'networks', `${name}.json`);
  }
  private endpointPath(key: string, index = 0): string {
    return join(this.dir, 'endpoints', index === 0 ? `${key}.json` : `${key}.${index}.json`);
  }
}

export async function exists(path: string): Promise<boolean> {
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

/** Every readable record of a directory, in name order; one that cannot be read or parsed is skipped. */
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
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n', 0o644);
}

/**
 * Drop leases and endpoint records whose netns is gone (a crash before detach, a reboot), so their addresses
 * can be handed out again. Under the network lock.
 */
export async function dropStaleEndpoints(store: NetworkStore, ipam: Ipam): Promise<void> {
  for (const l of await ipam.allLeases()) {
    if (!(await exists(netnsPathFor(l.containerId)))) await ipam.release(l.network, l.ip);
  }
  for (const ep of await store.readEndpoints()) {
    if (!(await exists(`${NETNS_DIR}/${ep.netns}`))) await store.removeEndpoint(ep.key, ep.index ?? 0);
  }
}
