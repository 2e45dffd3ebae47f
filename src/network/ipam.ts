import { mkdir, open, readdir, readFile, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno, TvctlError } from '../errors.js';
import { firstHost, intToIp, ipToInt, lastHost, parseSubnet } from './cidr.js';

export interface Lease {
  network: string;
  ip: string;
  containerId: string;
}

/**
 * Persistent IP address management: one file per leased address, `<dir>/<network>/<ip>`, holding the
 * container id. A lease is taken with O_CREAT|O_EXCL, so two allocators can never hand out the same address
 * even without the caller's lock; releasing is unlinking. The lowest free address is handed out.
 */
export class Ipam {
  constructor(readonly dir: string) {}

  async allocate(network: string, subnet: string, gateway: string, containerId: string): Promise<string> {
    const s = parseSubnet(subnet);
    const gw = ipToInt(gateway);
    const netDir = join(this.dir, network);
    await mkdir(netDir, { recursive: true });
    const taken = new Set(await readdir(netDir));
    for (let n = firstHost(s); n <= lastHost(s); n++) {
      if (n === gw) continue;
      const ip = intToIp(n);
      if (taken.has(ip)) continue;
      try {
        const fh = await open(join(netDir, ip), 'wx', 0o644);
        await fh.writeFile(containerId);
        await fh.close();
        return ip;
      } catch (err) {
        if (isErrno(err, 'EEXIST')) continue;
        throw err;
      }
    }
    throw new TvctlError('NO_ADDRESS', `no free address left in network "${network}" (${subnet})`);
  }

  async leases(network: string): Promise<Lease[]> {
    const netDir = join(this.dir, network);
    const names = await readdir(netDir).catch((err: unknown) => {
      if (isErrno(err, 'ENOENT')) return [] as string[];
      throw err;
    });
    const out: Lease[] = [];
    for (const ip of names) {
      if (!/^\d+\.\d+\.\d+\.\d+$/.test(ip)) continue;
      const containerId = (await readFile(join(netDir, ip), 'utf8').catch(() => '')).trim();
      out.push({ network, ip, containerId });
    }
    return out.sort((a, b) => ipToInt(a.ip) - ipToInt(b.ip));
  }

  async allLeases(): Promise<Lease[]> {
    const nets = await readdir(this.dir).catch(() => [] as string[]);
    return (await Promise.all(nets.map((n) => this.leases(n)))).flat();
  }

  async release(network: string, ip: string): Promise<void> {
    await unlink(join(this.dir, network, ip)).catch((err: unknown) => {
      if (!isErrno(err, 'ENOENT')) throw err;
    });
  }

  /** Release every lease held by a container (on any network); returns what was released. */
  async releaseAll(match: (containerId: string) => boolean): Promise<Lease[]> {
    const gone = (await this.allLeases()).filter((l) => match(l.containerId));
    for (const l of gone) await this.release(l.network, l.ip);
    return gone;
  }

  async dropNetwork(network: string): Promise<void> {
    await rm(join(this.dir, network), { recursive: true, force: true });
  }
}
