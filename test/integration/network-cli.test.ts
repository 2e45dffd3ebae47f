import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { httpGet, retry } from '../helpers/net.js';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importDemo, isRoot, makeRoots, tvctl, type TestRoots } from '../helpers/cli.js';

/** The network scenarios through the built CLI (root, real kernel); traffic host loopback ↔ containers only. */

const tag = randomBytes(2).toString('hex');
const NET1 = `tn${tag}x`;
const NET2 = `tn${tag}y`;

const out = (r: { stdout?: unknown }): string => String(r.stdout ?? '');

async function kernelState(): Promise<{ links: string[]; ruleset: string; netns: string[] }> {
  const links = (JSON.parse((await execa('ip', ['-j', 'link'])).stdout) as Array<{ ifname: string }>)
    .map((l) => l.ifname)
    .sort();
  const ruleset = (await execa('nft', ['list', 'ruleset'])).stdout;
  const netns = (await readdir('/run/netns').catch(() => [] as string[])).sort();
  return { links, ruleset, netns };
}

describe.skipIf(!isRoot)('networking through the CLI (root)', () => {
  let roots: TestRoots;
  let before: Awaited<ReturnType<typeof kernelState>>;
  const ids: string[] = [];

  const run = async (args: string[]): Promise<string> => {
    const r = await tvctl(roots, ['run', '-d', ...args]);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const id = out(r).trim();
    ids.push(id);
    return id;
  };
  const ipOf = async (id: string): Promise<string> => {
    const r = await tvctl(roots, ['inspect', id]);
    return (JSON.parse(out(r)) as Array<{ NetworkSettings: { ipAddress: string } }>)[0]!.NetworkSettings.ipAddress;
  };

  beforeAll(async () => {
    before = await kernelState();
    roots = await makeRoots();
    await importDemo(roots);
    for (const n of [NET1, NET2]) expect((await tvctl(roots, ['network', 'create', n])).exitCode).toBe(0);
  });
  afterAll(async () => {
    if (ids.length) await tvctl(roots, ['rm', '-f', ...ids]);
    await tvctl(roots, ['network', 'rm', NET1, NET2]);
    await roots?.cleanup();
  });

  it('busybox httpd published with -p 18080:80 is fetched from the host; tvctl port shows it', async () => {
    const id = await run(['-p', '18080:80', 'demo', 'httpd', '-f', '-p', '80', '-h', '/etc']);
    const res = await retry(() => httpGet('http://127.0.0.1:18080/hostname'), 10_000);
    expect(res.status).toBe(200);
    expect(res.body.trim()).toBe(id.slice(0, 12));
    const port = await tvctl(roots, ['port', id]);
    expect(out(port).trim()).toBe('80/tcp -> 0.0.0.0:18080');
    // A second container cannot take the same host port; the failed run leaves nothing behind.
    const dup = await tvctl(roots, ['run', '-d', '-p', '18080:80', 'demo', 'sleep', '100']);
    expect(dup.exitCode).toBe(125);
    expect(dup.stderr).toMatch(/already allocated/);
    // -p 127.0.0.1::80 picks a free port, reported by tvctl port.
    const id2 = await run(['-p', '127.0.0.1::80', 'demo', 'httpd', '-f', '-p', '80', '-h', '/etc']);
    const hostPort = out(await tvctl(roots, ['port', id2, '80/tcp'])).trim();
    expect(hostPort).toMatch(/^127\.0\.0\.1:\d+$/);
    expect((await retry(() => httpGet(`http://${hostPort}/hostname`), 10_000)).body.trim()).toBe(id2.slice(0, 12));
    expect((await tvctl(roots, ['rm', '-f', id, id2])).exitCode).toBe(0);
    await expect(httpGet('http://127.0.0.1:18080/hostname')).rejects.toThrow();
  });

  it('containers on one network reach each other by name; on two networks they cannot', async () => {
    const srv = `srv${tag}`;
    const sid = await run(['--network', NET1, '--name', srv, 'demo', 'httpd', '-f', '-p', '80', '-h', '/etc']);
    const sip = await ipOf(sid);
    const same = await tvctl(roots, [
      'run',
      '--rm',
      '--network',
      NET1,
      'demo',
      'sh',
      '-c',
      `ping -c1 -W2 ${srv} && wget -qO- http://${srv}/hostname`,
    ]);
    expect(same.exitCode, String(same.stderr)).toBe(0);
    expect(out(same)).toContain(`PING ${srv} (${sip})`);
    expect(out(same)).toContain(sid.slice(0, 12));
    const other = await tvctl(roots, ['run', '--rm', '--network', NET2, 'demo', 'sh', '-c', `ping -c1 -W1 ${sip}`]);
    expect(other.exitCode).not.toBe(0);
    // The name is not known on the other network either.
    const otherName = await tvctl(roots, [
      'run',
      '--rm',
      '--network',
      NET2,
      'demo',
      'sh',
      '-c',
      `grep -c ${srv} /etc/hosts`,
    ]);
    expect(out(otherName).trim()).toBe('0');
    const inUse = await tvctl(roots, ['network', 'rm', NET1]);
    expect(inUse.exitCode).toBe(125);
    expect(inUse.stderr).toMatch(/in use/);
  });

  it('--network none has only lo; --network host sees the host interfaces', async () => {
    const none = await tvctl(roots, ['run', '--rm', '--network', 'none', 'demo', 'ls', '/sys/class/net']);
    expect(out(none).trim().split(/\s+/)).toEqual(['lo']);
    const host = await tvctl(roots, ['run', '--rm', '--network', 'host', 'demo', 'ls', '/sys/class/net']);
    const hostLinks = (await readdir('/sys/class/net')).sort();
    expect(out(host).trim().split(/\s+/).sort()).toEqual(
      expect.arrayContaining(hostLinks.filter((l) => !l.startsWith('tv'))),
    );
  });

  it('20 containers on one network get 20 distinct addresses', async () => {
    const mine: string[] = [];
    for (let batch = 0; batch < 4; batch++) {
      mine.push(
        ...(await Promise.all(Array.from({ length: 5 }, () => run(['--network', NET2, 'demo', 'sleep', '1000'])))),
      );
    }
    const r = await tvctl(roots, ['inspect', ...mine]);
    const ips = (JSON.parse(out(r)) as Array<{ NetworkSettings: { ipAddress: string } }>).map(
      (c) => c.NetworkSettings.ipAddress,
    );
    expect(new Set(ips).size).toBe(20);
    const net = JSON.parse(out(await tvctl(roots, ['network', 'inspect', NET2]))) as Array<{ containers: unknown[] }>;
    expect(net[0]!.containers).toHaveLength(20);
    expect((await tvctl(roots, ['rm', '-f', ...mine])).exitCode).toBe(0);
  });

  it('rm -f after kill -9 of the container and its supervisor leaves no link, rule or lease', async () => {
    const id = await run(['--network', NET1, '-p', '18081:80', 'demo', 'httpd', '-f', '-p', '80']);
    const key = id.slice(0, 12);
    const dir = join(roots.state, 'containers', id);
    const shim = Number((await execa('cat', [join(dir, 'shim.pid')])).stdout);
    const inNs = (await execa('ip', ['netns', 'pids', `tvctl-${key}`])).stdout.split(/\s+/).filter(Boolean).map(Number);
    for (const p of [shim, ...inNs]) process.kill(p, 'SIGKILL');
    expect((await tvctl(roots, ['rm', '-f', id])).exitCode).toBe(0);
    const k = await kernelState();
    expect(k.links.filter((l) => l.includes(key))).toEqual([]);
    expect(k.netns.filter((n) => n.includes(key))).toEqual([]);
    expect(k.ruleset).not.toContain(`tvctl ctr ${key}`);
    const net = JSON.parse(out(await tvctl(roots, ['network', 'inspect', NET1]))) as Array<{
      containers: Array<{ containerId: string }>;
    }>;
    expect(net[0]!.containers.map((c) => c.containerId)).not.toContain(id);
  });

  it('network connect/disconnect update the container record: inspect shows the second network, rm -f leaks nothing', async () => {
    const name = `multi${tag}`;
    const id = await run(['--network', NET1, '--name', name, 'demo', 'sleep', '1000']);
    const key = id.slice(0, 12);
    type Settings = {
      network: string;
      ipAddress: string;
      connected?: Array<{ network: string; ifname: string; ipAddress: string; hostVeth: string }>;
    };
    const settings = async (): Promise<Settings> =>
      (JSON.parse(out(await tvctl(roots, ['inspect', id]))) as Array<{ NetworkSettings: Settings }>)[0]!
        .NetworkSettings;
    expect((await settings()).connected).toBeUndefined();

    const conn = await tvctl(roots, ['network', 'connect', '--json', NET2, name]);
    expect(conn.exitCode, String(conn.stderr)).toBe(0);
    const att = JSON.parse(out(conn)) as { network: string; ipAddress: string; hostVeth: string };
    expect(att).toMatchObject({ network: NET2, hostVeth: `tv${key}1` });
    const both = await settings();
    expect(both.network).toBe(NET1);
    expect(both.connected).toEqual([
      expect.objectContaining({ network: NET2, ifname: 'eth1', ipAddress: att.ipAddress, hostVeth: `tv${key}1` }),
    ]);
    // The record matches the kernel: the address is on eth1 inside the container.
    const addr = await tvctl(roots, ['exec', id, 'ip', '-o', '-4', 'addr', 'show', 'dev', 'eth1']);
    expect(out(addr)).toContain(`${att.ipAddress}/`);
    const again = await tvctl(roots, ['network', 'connect', NET2, id]);
    expect(again.exitCode).toBe(125);
    expect(again.stderr).toMatch(/already connected/);
    expect((await settings()).connected).toHaveLength(1);

    const disc = await tvctl(roots, ['network', 'disconnect', NET2, name]);
    expect(disc.exitCode, String(disc.stderr)).toBe(0);
    expect((await settings()).connected).toBeUndefined();
    expect((await kernelState()).links).not.toContain(`tv${key}1`);
    const net2 = JSON.parse(out(await tvctl(roots, ['network', 'inspect', NET2]))) as Array<{
      containers: Array<{ containerId: string }>;
    }>;
    expect(net2[0]!.containers.map((c) => c.containerId)).not.toContain(id);

    // Connected again and removed while connected: every interface, the netns and both leases go.
    expect((await tvctl(roots, ['network', 'connect', NET2, id])).exitCode).toBe(0);
    expect((await settings()).connected).toHaveLength(1);
    expect((await tvctl(roots, ['rm', '-f', id])).exitCode).toBe(0);
    const k = await kernelState();
    expect(k.links.filter((l) => l.includes(key))).toEqual([]);
    expect(k.netns.filter((n) => n.includes(key))).toEqual([]);
    for (const n of [NET1, NET2]) {
      const net = JSON.parse(out(await tvctl(roots, ['network', 'inspect', n]))) as Array<{
        containers: Array<{ containerId: string }>;
      }>;
      expect(net[0]!.containers.map((c) => c.containerId)).not.toContain(id);
    }
    // It was the only container on NET2 (the earlier tests' containers there are gone): its bridge went too.
    expect(k.links).not.toContain(`tvbr-${NET2}`);
  });

  it('after every container and network is removed, links and firewall rules are as before', async () => {
    expect((await tvctl(roots, ['rm', '-f', ...ids])).exitCode).toBeLessThanOrEqual(1);
    ids.length = 0;
    const rm = await tvctl(roots, ['network', 'rm', NET1, NET2]);
    expect(rm.exitCode, String(rm.stderr)).toBe(0);
    const after = await kernelState();
    const ours = (n: string): boolean => n.startsWith('tvbr-tn') || n === 'tvctl0' || n.startsWith('tvctl-');
    // Other suites may run containers meanwhile; when nothing else of tvctl is live, everything must match.
    const othersLive = after.netns.some((n) => n.startsWith('tvctl-')) || before.links.some((l) => l.startsWith('tv'));
    expect(after.links.filter((l) => l.startsWith(`tvbr-tn${tag}`))).toEqual([]);
    if (!othersLive) {
      expect(after.links).toEqual(before.links);
      expect(after.ruleset).toBe(before.ruleset);
      expect(after.netns.filter(ours)).toEqual(before.netns.filter(ours));
    }
  });
});
