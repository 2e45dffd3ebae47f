import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CgroupV1Manager,
  CgroupV2Manager,
  DEFAULT_DEVICE_RULES,
  createCgroupManager,
  detectCgroupMode,
  formatDeviceRule,
  type DeviceRule,
} from '../../../src/cgroups/index.js';
import { buildCgdevArgv } from '../../../src/cgroups/devices.js';
import { TvctlError } from '../../../src/errors.js';
import { makeFakeTree, type FakeTree } from './fake-cgroupfs.js';

const MiB = 1024 * 1024;
let trees: FakeTree[] = [];
const tree = (...a: Parameters<typeof makeFakeTree>): FakeTree => {
  const t = makeFakeTree(...a);
  trees.push(t);
  return t;
};
afterEach(() => {
  for (const t of trees) t.cleanup();
  trees = [];
});
const read = (t: FakeTree, rel: string): string => readFileSync(join(t.root, rel), 'utf8').trim();

describe('detectCgroupMode', () => {
  it('tells v1, hybrid and v2 trees apart', () => {
    expect(detectCgroupMode(tree('v1').root)).toBe('v1');
    expect(detectCgroupMode(tree('hybrid').root)).toBe('hybrid');
    expect(detectCgroupMode(tree('v2').root)).toBe('v2');
    expect(detectCgroupMode(tree('v1', { coMountCpu: true }).root)).toBe('v1');
  });

  it('fails with one clear line when there are no cgroups', () => {
    const empty = mkdtempSync(join(tmpdir(), 'tvctl-nocg-'));
    try {
      expect(() => detectCgroupMode(empty)).toThrow(/no cgroup controllers found under/);
      expect(() => detectCgroupMode(join(empty, 'missing'))).toThrow(/cgroup file system not found/);
      mkdirSync(join(empty, 'systemd'));
      expect(() => detectCgroupMode(empty)).toThrow(TvctlError);
    } finally {
      rmSync(empty, { recursive: true });
    }
  });

  it('createCgroupManager picks the implementation by detection', () => {
    expect(createCgroupManager({ root: tree('v2').root })).toBeInstanceOf(CgroupV2Manager);
    const h = createCgroupManager({ root: tree('hybrid').root });
    expect(h).toBeInstanceOf(CgroupV1Manager);
    expect(h.mode).toBe('hybrid');
  });
});

describe('CgroupV1Manager on a fake tree', () => {
  const all = {
    memory: 32 * MiB,
    memorySwap: 64 * MiB,
    memoryReservation: 16 * MiB,
    cpuQuota: 50_000,
    cpuPeriod: 100_000,
    cpuShares: 512,
    cpusetCpus: '1',
    pidsLimit: 50,
  };

  it('creates one dir per hierarchy and writes every limit', async () => {
    const t = tree('v1');
    const m = createCgroupManager({ root: t.root, fs: t.fs });
    const h = await m.create('c1', all);
    const ctrls = ['memory', 'cpu', 'cpuacct', 'cpuset', 'devices', 'freezer', 'blkio', 'pids'];
    expect(h.dirs.sort()).toEqual(ctrls.map((c) => join(t.root, c, 'tvctl', 'c1')).sort());
    expect(h.procsFiles).toHaveLength(8);
    expect(h.procsFiles.every((f) => f.endsWith('/cgroup.procs') && existsSync(f))).toBe(true);
    expect(h.oomFiles).toEqual([join(t.root, 'memory/tvctl/c1/memory.oom_control')]);
    expect(read(t, 'memory/tvctl/c1/memory.limit_in_bytes')).toBe(String(32 * MiB));
    expect(read(t, 'memory/tvctl/c1/memory.memsw.limit_in_bytes')).toBe(String(64 * MiB));
    expect(read(t, 'memory/tvctl/c1/memory.soft_limit_in_bytes')).toBe(String(16 * MiB));
    expect(read(t, 'cpu/tvctl/c1/cpu.cfs_quota_us')).toBe('50000');
    expect(read(t, 'cpu/tvctl/c1/cpu.cfs_period_us')).toBe('100000');
    expect(read(t, 'cpu/tvctl/c1/cpu.shares')).toBe('512');
    expect(read(t, 'cpuset/tvctl/c1/cpuset.cpus')).toBe('1');
    expect(read(t, 'pids/tvctl/c1/pids.max')).toBe('50');
    // a v1 cpuset refuses tasks until cpus and mems are set: both copied down from the root
    expect(read(t, 'cpuset/tvctl/cpuset.cpus')).toBe('0-3');
    expect(read(t, 'cpuset/tvctl/cpuset.mems')).toBe('0');
    expect(read(t, 'cpuset/tvctl/c1/cpuset.mems')).toBe('0');
  });

  it('without --cpuset-cpus the container inherits the parent cpus; unlimited pids is "max"', async () => {
    const t = tree('v1');
    const m = createCgroupManager({ root: t.root, fs: t.fs });
    await m.create('c2', { pidsLimit: -1 });
    expect(read(t, 'cpuset/tvctl/c2/cpuset.cpus')).toBe('0-3');
    expect(read(t, 'pids/tvctl/c2/pids.max')).toBe('max');
    expect(read(t, 'cpu/tvctl/c2/cpu.cfs_quota_us')).toBe('-1');
  });

  it("denies all devices, then allows Docker's list, in that order", async () => {
    const t = tree('v1');
    await createCgroupManager({ root: t.root, fs: t.fs }).create('d1', {});
    const devWrites = t.writesRel().filter(([p]) => p.startsWith('devices/tvctl/d1/'));
    expect(devWrites[0]).toEqual(['devices/tvctl/d1/devices.deny', 'a']);
    expect(devWrites.slice(1).map(([p, v]) => `${p.split('/').pop()} ${v}`)).toEqual([
      'devices.allow c *:* m',
      'devices.allow b *:* m',
      'devices.allow c 1:3 rwm',
      'devices.allow c 1:5 rwm',
      'devices.allow c 1:7 rwm',
      'devices.allow c 1:8 rwm',
      'devices.allow c 1:9 rwm',
      'devices.allow c 5:0 rwm',
      'devices.allow c 5:1 rwm',
      'devices.allow c 5:2 rwm',
      'devices.allow c 136:* rwm',
      'devices.allow c 10:200 rwm',
    ]);
  });

  it('memsw is written after the limit when shrinking and before it when growing', async () => {
    const t = tree('v1');
    const m = createCgroupManager({ root: t.root, fs: t.fs });
    await m.create('o1', { memory: 64 * MiB, memorySwap: 128 * MiB });
    const memOrder = (): string[] =>
      t
        .writesRel()
        .filter(([p]) => /memory\.(memsw\.)?limit_in_bytes$/.test(p))
        .map(([p, v]) => `${p.includes('memsw') ? 'memsw' : 'limit'}=${v}`);
    // create from unlimited: limit first (memsw may not go below the current, unlimited, limit)
    expect(memOrder()).toEqual([`limit=${64 * MiB}`, `memsw=${128 * MiB}`]);
    t.fs.writes.length = 0;
    await m.update('o1', { memory: 256 * MiB, memorySwap: 512 * MiB });
    expect(memOrder()).toEqual([`memsw=${512 * MiB}`, `limit=${256 * MiB}`]);
    t.fs.writes.length = 0;
    await m.update('o1', { memory: 32 * MiB, memorySwap: 64 * MiB });
    expect(memOrder()).toEqual([`limit=${32 * MiB}`, `memsw=${64 * MiB}`]);
    t.fs.writes.length = 0;
    await m.update('o1', { memory: 48 * MiB, memorySwap: -1 });
    expect(memOrder()).toEqual(['memsw=-1', `limit=${48 * MiB}`]);
    expect(read(t, 'memory/tvctl/o1/memory.limit_in_bytes')).toBe(String(48 * MiB));
  });

  it('a memory limit above the swap total is refused with one clear line', async () => {
    const t = tree('v1');
    const m = createCgroupManager({ root: t.root, fs: t.fs });
    await m.create('o2', { memory: 32 * MiB, memorySwap: 64 * MiB });
    await expect(m.update('o2', { memory: 128 * MiB })).rejects.toThrow(
      /cannot write "134217728" to .*memory.limit_in_bytes: EINVAL/,
    );
  });

  it('without memsw accounting only memory.limit_in_bytes is written', async () => {
    const t = tree('v1');
    rmSync(join(t.root, 'memory', 'memory.memsw.limit_in_bytes'));
    const fs = {
      ...t.fs,
      mkdir: async (p: string) => {
        await t.fs.mkdir(p);
        rmSync(join(p, 'memory.memsw.limit_in_bytes'), { force: true });
      },
    };
    await createCgroupManager({ root: t.root, fs }).create('o3', { memory: 32 * MiB, memorySwap: 64 * MiB });
    expect(t.writesRel().some(([p]) => p.includes('memsw'))).toBe(false);
    expect(read(t, 'memory/tvctl/o3/memory.limit_in_bytes')).toBe(String(32 * MiB));
  });

  it('cfs period first, then quota; a refused period (EINVAL) is retried after the quota', async () => {
    const t = tree('v1');
    const m = createCgroupManager({ root: t.root, fs: t.fs });
    await m.create('q1', { cpuQuota: 50_000, cpuPeriod: 100_000 });
    const cpuOrder = (): string[] =>
      t
        .writesRel()
        .filter(([p]) => /cfs_(quota|period)_us$/.test(p))
        .map(([p, v]) => `${p.split('.').at(-1)!.replace('_us', '')}=${v}`);
    expect(cpuOrder()).toEqual(['cfs_period=100000', 'cfs_quota=50000']);
    t.fs.writes.length = 0;
    t.fs.failNext.set('cpu/tvctl/q1/cpu.cfs_period_us', 'EINVAL');
    await m.update('q1', { cpuQuota: 10_000, cpuPeriod: 20_000 });
    expect(cpuOrder()).toEqual(['cfs_period=20000', 'cfs_quota=10000', 'cfs_period=20000']);
    expect(read(t, 'cpu/tvctl/q1/cpu.cfs_period_us')).toBe('20000');
    expect(read(t, 'cpu/tvctl/q1/cpu.cfs_quota_us')).toBe('10000');
    // EINVAL on a period-only change is a real error
    t.fs.failNext.set('cpu/tvctl/q1/cpu.cfs_period_us', 'EINVAL');
    await expect(m.update('q1', { cpuPeriod: 30_000 })).rejects.toThrow(/cpu.cfs_period_us: EINVAL/);
    await m.update('q1', { cpuQuota: -1 });
    expect(read(t, 'cpu/tvctl/q1/cpu.cfs_quota_us')).toBe('-1');
  });

  it('hybrid adds the cgroup2 dir under unified/tvctl to the handle', async () => {
    const t = tree('hybrid');
    const m = createCgroupManager({ root: t.root, fs: t.fs });
    expect(m.mode).toBe('hybrid');
    const h = await m.create('h1', {});
    expect(h.dirs).toContain(join(t.root, 'unified/tvctl/h1'));
    expect(h.procsFiles).toContain(join(t.root, 'unified/tvctl/h1/cgroup.procs'));
    expect(existsSync(join(t.root, 'unified/tvctl/h1'))).toBe(true);
    const v1 = createCgroupManager({ root: t.root, fs: t.fs, mode: 'v1' });
    expect(v1.open('h1').dirs.some((d) => d.includes('unified'))).toBe(false);
  });

  it('hybrid without a v1 devices controller falls back to the cgroup2 device program', async () => {
    const t = tree('hybrid');
    rmSync(join(t.root, 'devices'), { recursive: true });
    const attached: Array<[string, readonly DeviceRule[]]> = [];
    const m = createCgroupManager({
      root: t.root,
      fs: t.fs,
      attachDeviceFilter: async (dir, rules) => {
        attached.push([dir, rules]);
      },
    });
    await m.create('h2', {});
    expect(attached).toEqual([[join(t.root, 'unified/tvctl/h2'), DEFAULT_DEVICE_RULES]]);
    // plain v1 without a devices controller cannot restrict devices: refuse rather than run unconfined
    const t2 = tree('v1');
    rmSync(join(t2.root, 'devices'), { recursive: true });
    const m2 = createCgroupManager({ root: t2.root, fs: t2.fs });
    await expect(m2.create('h3', {})).rejects.toThrow(/no devices cgroup controller/);
    expect(m2.open('h3').dirs.filter((d) => existsSync(d))).toEqual([]);
  });

  it('co-mounted cpu,cpuacct is one dir', async () => {
    const t = tree('v1', { coMountCpu: true });
    const m = createCgroupManager({ root: t.root, fs: t.fs });
    const h = await m.create('cm', { cpuShares: 256 });
    expect(h.dirs.filter((d) => d.includes('cpu,cpuacct') || /\/cpu(acct)?\//.test(d))).toHaveLength(1);
    expect(read(t, 'cpu,cpuacct/tvctl/cm/cpu.shares')).toBe('256');
  });

  it('stats, oomKilled and pids read the kernel files', async () => {
    const t = tree('v1');
    const m = createCgroupManager({ root: t.root, fs: t.fs });
    await m.create('s1', { memory: 32 * MiB, pidsLimit: 50 });
    const w = (rel: string, v: string): void => writeFileSync(join(t.root, rel), v);
    w('cpuacct/tvctl/s1/cpuacct.usage', '1500000000\n');
    w('memory/tvctl/s1/memory.usage_in_bytes', `${10 * MiB}\n`);
    w('memory/tvctl/s1/memory.stat', `cache 4096\ntotal_inactive_file ${2 * MiB}\n`);
    w('pids/tvctl/s1/pids.current', '7\n');
    w(
      'blkio/tvctl/s1/blkio.throttle.io_service_bytes_recursive',
      '254:0 Read 4096\n254:0 Write 8192\n254:0 Total 12288\n8:0 Read 1\nTotal 12289\n',
    );
    w('memory/tvctl/s1/cgroup.procs', '12\n5\n');
    w('pids/tvctl/s1/cgroup.procs', '5\n12\n40\n');
    expect(await m.stats('s1')).toEqual({
      cpuUsageNs: 1_500_000_000,
      memoryUsageBytes: 8 * MiB,
      memoryLimitBytes: 32 * MiB,
      pidsCurrent: 7,
      pidsLimit: 50,
      blockReadBytes: 4097,
      blockWriteBytes: 8192,
    });
    expect(await m.pids('s1')).toEqual([5, 12, 40]);
    expect(await m.oomKilled('s1')).toBe(false);
    w('memory/tvctl/s1/memory.oom_control', 'oom_kill_disable 0\nunder_oom 0\noom_kill 1\n');
    expect(await m.oomKilled('s1')).toBe(true);
    await m.update('s1', { pidsLimit: -1 });
    expect((await m.stats('s1')).pidsLimit).toBeNull();
  });

  it('destroy removes every dir and is idempotent; stats/update of a missing cgroup fail clearly', async () => {
    const t = tree('hybrid');
    const m = createCgroupManager({ root: t.root, fs: t.fs });
    const h = await m.create('x1', { memory: 32 * MiB });
    await m.destroy('x1');
    expect(h.dirs.filter((d) => existsSync(d))).toEqual([]);
    await m.destroy('x1');
    await m.destroy('never-made');
    await expect(m.stats('x1')).rejects.toThrow(/cgroup of container x1 not found/);
    await expect(m.update('x1', { memory: 64 * MiB })).rejects.toThrow(/not found/);
  });

  it('a failing create leaves nothing behind; an existing cgroup is not clobbered', async () => {
    const t = tree('v1');
    const m = createCgroupManager({ root: t.root, fs: t.fs });
    t.fs.failNext.set('pids/tvctl/f1/pids.max', 'EINVAL');
    await expect(m.create('f1', { pidsLimit: 5 })).rejects.toThrow(/pids.max: EINVAL/);
    expect(m.open('f1').dirs.filter((d) => existsSync(d))).toEqual([]);
    await m.create('f2', {});
    await expect(m.create('f2', {})).rejects.toThrow(/already exists/);
    expect(m.open('f2').dirs.every((d) => existsSync(d))).toBe(true);
  });

  it('list finds container cgroups in any hierarchy (orphans included)', async () => {
    const t = tree('hybrid');
    const m = createCgroupManager({ root: t.root, fs: t.fs });
    expect(await m.list()).toEqual([]);
    await m.create('b', {});
    await m.create('a', {});
    mkdirSync(join(t.root, 'pids', 'tvctl', 'orphan')); // left in one hierarchy only
    expect(await m.list()).toEqual(['a', 'b', 'orphan']);
    await m.destroy('orphan');
    await m.destroy('a');
    expect(await m.list()).toEqual(['b']);
    const v2 = tree('v2');
    const m2 = createCgroupManager({ root: v2.root, fs: v2.fs, attachDeviceFilter: async () => undefined });
    await m2.create('z', {});
    expect(await m2.list()).toEqual(['z']);
  });

  it('rejects ids that could leave the tvctl parent', () => {
    const m = createCgroupManager({ root: tree('v1').root });
    for (const bad of ['../x', '.', '..', 'a/b', '', '-x']) expect(() => m.open(bad)).toThrow(/invalid container id/);
  });
});

describe('CgroupV2Manager on a fake tree', () => {
  const attachLog: Array<[string, readonly DeviceRule[]]> = [];
  const attach = async (dir: string, rules: readonly DeviceRule[]): Promise<void> => {
    attachLog.push([dir, rules]);
  };

  it('enables controllers down the path and writes the v2 files', async () => {
    const t = tree('v2');
    attachLog.length = 0;
    const m = createCgroupManager({ root: t.root, fs: t.fs, attachDeviceFilter: attach });
    expect(m.mode).toBe('v2');
    const h = await m.create('v', {
      memory: 32 * MiB,
      memorySwap: 64 * MiB,
      memoryReservation: 16 * MiB,
      cpuQuota: 50_000,
      cpuPeriod: 100_000,
      cpuShares: 1024,
      cpusetCpus: '0',
      pidsLimit: 50,
    });
    const d = join(t.root, 'tvctl/v');
    expect(h).toEqual({ dirs: [d], procsFiles: [join(d, 'cgroup.procs')], oomFiles: [join(d, 'memory.events')] });
    expect(read(t, 'cgroup.subtree_control').split(' ').sort()).toEqual(['cpu', 'cpuset', 'io', 'memory', 'pids']);
    expect(read(t, 'tvctl/cgroup.subtree_control').split(' ').sort()).toEqual([
      'cpu',
      'cpuset',
      'io',
      'memory',
      'pids',
    ]);
    expect(read(t, 'tvctl/v/memory.max')).toBe(String(32 * MiB));
    expect(read(t, 'tvctl/v/memory.swap.max')).toBe(String(32 * MiB)); // 64m total - 32m memory
    expect(read(t, 'tvctl/v/memory.low')).toBe(String(16 * MiB));
    expect(read(t, 'tvctl/v/cpu.max')).toBe('50000 100000');
    expect(read(t, 'tvctl/v/cpu.weight')).toBe('100');
    expect(read(t, 'tvctl/v/cpuset.cpus')).toBe('0');
    expect(read(t, 'tvctl/v/pids.max')).toBe('50');
    expect(attachLog).toEqual([[d, DEFAULT_DEVICE_RULES]]);
  });

  it('unlimited swap is "max"; update changes only what is given', async () => {
    const t = tree('v2');
    const m = createCgroupManager({ root: t.root, fs: t.fs, attachDeviceFilter: attach });
    await m.create('u', { memory: 32 * MiB, memorySwap: -1, cpuQuota: 50_000, cpuPeriod: 100_000 });
    expect(read(t, 'tvctl/u/memory.swap.max')).toBe('max');
    t.fs.writes.length = 0;
    await m.update('u', { memory: 64 * MiB });
    expect(t.writesRel()).toEqual([['tvctl/u/memory.max', String(64 * MiB)]]);
    await m.update('u', { memorySwap: 100 * MiB });
    expect(read(t, 'tvctl/u/memory.swap.max')).toBe(String(36 * MiB));
    await m.update('u', { cpuQuota: -1 });
    expect(read(t, 'tvctl/u/cpu.max')).toBe('max');
    await m.update('u', { cpuPeriod: 50_000 });
    expect(read(t, 'tvctl/u/cpu.max')).toBe('max 50000');
    await m.update('u', { pidsLimit: -1, cpuShares: 2 });
    expect(read(t, 'tvctl/u/pids.max')).toBe('max');
    expect(read(t, 'tvctl/u/cpu.weight')).toBe('1');
  });

  it('a controller the host does not offer gives a clear error and nothing left behind', async () => {
    const t = tree('v2');
    writeFileSync(join(t.root, 'cgroup.controllers'), 'cpu memory');
    const m = createCgroupManager({ root: t.root, fs: t.fs, attachDeviceFilter: attach });
    await expect(m.create('np', { pidsLimit: 10 })).rejects.toThrow(/pids.max: ENOENT \(controller not enabled/);
    expect(existsSync(join(t.root, 'tvctl/np'))).toBe(false);
  });

  it('a failing device program attach fails the create and removes the dir', async () => {
    const t = tree('v2');
    const m = createCgroupManager({
      root: t.root,
      fs: t.fs,
      attachDeviceFilter: async () => {
        throw new TvctlError('NO_CGDEV', 'cgdev missing');
      },
    });
    await expect(m.create('nd', {})).rejects.toThrow(/cgdev missing/);
    expect(existsSync(join(t.root, 'tvctl/nd'))).toBe(false);
  });

  it('stats and oomKilled read cpu.stat, memory.*, pids.*, io.stat, memory.events', async () => {
    const t = tree('v2');
    const m = createCgroupManager({ root: t.root, fs: t.fs, attachDeviceFilter: attach });
    await m.create('s', { memory: 32 * MiB });
    const w = (rel: string, v: string): void => writeFileSync(join(t.root, 'tvctl/s', rel), v);
    w('cpu.stat', 'usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n');
    w('memory.current', `${12 * MiB}\n`);
    w('memory.stat', `anon 100\ninactive_file ${MiB}\n`);
    w('pids.current', '3\n');
    w(
      'io.stat',
      '254:0 rbytes=1000 wbytes=2000 rios=1 wios=2 dbytes=0 dios=0\n8:0 rbytes=5 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n',
    );
    w('cgroup.procs', '30\n4\n');
    expect(await m.stats('s')).toEqual({
      cpuUsageNs: 2_500_000_000,
      memoryUsageBytes: 11 * MiB,
      memoryLimitBytes: 32 * MiB,
      pidsCurrent: 3,
      pidsLimit: null,
      blockReadBytes: 1005,
      blockWriteBytes: 2000,
    });
    expect(await m.pids('s')).toEqual([4, 30]);
    expect(await m.oomKilled('s')).toBe(false);
    w('memory.events', 'low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n');
    expect(await m.oomKilled('s')).toBe(true);
    w('cgroup.procs', '');
    await m.destroy('s');
    expect(existsSync(join(t.root, 'tvctl/s'))).toBe(false);
    await m.destroy('s');
  });
});

describe('device rules', () => {
  it('formats rules in devices.allow syntax and builds the cgdev argv', () => {
    expect(DEFAULT_DEVICE_RULES.map(formatDeviceRule)).toContain('c 136:* rwm');
    expect(formatDeviceRule({ type: 'a', major: null, minor: null, access: 'rwm' })).toBe('a *:* rwm');
    expect(buildCgdevArgv('/x/cgdev', '/sys/fs/cgroup/tvctl/a', DEFAULT_DEVICE_RULES.slice(0, 2))).toEqual({
      file: '/x/cgdev',
      args: ['attach', '/sys/fs/cgroup/tvctl/a', 'c *:* m', 'b *:* m'],
    });
  });
});
