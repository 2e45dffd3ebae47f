import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { nodeCgroupFs, type CgroupFs } from '../../../src/cgroups/fs.js';

/** Control files the kernel creates in every new dir of a v1 hierarchy, with their initial values. */
const V1_FILES: Record<string, Record<string, string>> = {
  memory: {
    'memory.limit_in_bytes': '9223372036854771712',
    'memory.memsw.limit_in_bytes': '9223372036854771712',
    'memory.soft_limit_in_bytes': '9223372036854771712',
    'memory.usage_in_bytes': '0',
    'memory.stat': 'cache 0\ninactive_file 0\ntotal_inactive_file 0\n',
    'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 0\n',
  },
  cpu: { 'cpu.shares': '1024', 'cpu.cfs_period_us': '100000', 'cpu.cfs_quota_us': '-1' },
  cpuacct: { 'cpuacct.usage': '0' },
  cpuset: { 'cpuset.cpus': '', 'cpuset.mems': '' },
  devices: { 'devices.allow': '', 'devices.deny': '', 'devices.list': 'a *:* rwm\n' },
  freezer: { 'freezer.state': 'THAWED' },
  blkio: { 'blkio.throttle.io_service_bytes_recursive': 'Total 0\n' },
  pids: { 'pids.max': 'max', 'pids.current': '0' },
};

const V2_FILES: Record<string, string> = {
  'cgroup.controllers': 'cpuset cpu io memory hugetlb pids rdma misc',
  'cgroup.subtree_control': '',
  'cgroup.kill': '',
  'cgroup.freeze': '0',
  'memory.max': 'max',
  'memory.swap.max': 'max',
  'memory.low': '0',
  'memory.current': '0',
  'memory.stat': 'inactive_file 0\n',
  'memory.events': 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n',
  'cpu.max': 'max 100000',
  'cpu.weight': '100',
  'cpu.stat': 'usage_usec 0\n',
  'cpuset.cpus': '',
  'pids.max': 'max',
  'pids.current': '0',
  'io.stat': '',
};

export interface FakeTree {
  root: string;
  fs: CgroupFs & { writes: Array<[string, string]>; failNext: Map<string, string> };
  /** path relative to root → written value, in order */
  writesRel(): Array<[string, string]>;
  cleanup(): void;
}

function populate(dir: string, files: Record<string, string>): void {
  for (const [f, v] of Object.entries(files)) writeFileSync(join(dir, f), v);
}

/**
 * A cgroupfs look-alike in a temp dir: mkdir fills in the control files as the kernel would, writes are
 * logged, and the one kernel rule the v1 ordering code exists for is enforced: memsw >= limit (EINVAL).
 * `failNext.set(relPath, 'EINVAL')` makes the next write to that file fail once.
 */
export function makeFakeTree(layout: 'v1' | 'hybrid' | 'v2', opts: { coMountCpu?: boolean } = {}): FakeTree {
  const root = mkdtempSync(join(tmpdir(), 'tvctl-fakecg-'));
  const writes: Array<[string, string]> = [];
  const failNext = new Map<string, string>();

  const controllerOf = (path: string): string | null => {
    const first = relative(root, path).split('/')[0] ?? '';
    if (first === 'unified') return 'unified';
    if (layout === 'v2') return 'v2';
    return first;
  };

  if (layout === 'v2') {
    populate(root, V2_FILES);
  } else {
    const ctrls = Object.keys(V1_FILES);
    for (const c of ctrls) {
      if (opts.coMountCpu && (c === 'cpu' || c === 'cpuacct')) continue;
      mkdirSync(join(root, c));
      populate(join(root, c), { 'cgroup.procs': '', ...(V1_FILES[c] ?? {}) });
    }
    if (opts.coMountCpu) {
      mkdirSync(join(root, 'cpu,cpuacct'));
      populate(join(root, 'cpu,cpuacct'), { 'cgroup.procs': '', ...V1_FILES['cpu'], ...V1_FILES['cpuacct'] });
      symlinkSync('cpu,cpuacct', join(root, 'cpu'));
      symlinkSync('cpu,cpuacct', join(root, 'cpuacct'));
    }
    writeFileSync(join(root, 'cpuset', 'cpuset.cpus'), '0-3\n');
    writeFileSync(join(root, 'cpuset', 'cpuset.mems'), '0\n');
    if (layout === 'hybrid') {
      mkdirSync(join(root, 'unified'));
      populate(join(root, 'unified'), {
        'cgroup.controllers': 'hugetlb',
        'cgroup.procs': '',
        'cgroup.subtree_control': '',
      });
    }
  }

  const fs: FakeTree['fs'] = {
    writes,
    failNext,
    async write(path, value) {
      const rel = relative(root, path);
      writes.push([rel, value]);
      const fail = failNext.get(rel);
      if (fail !== undefined) {
        failNext.delete(rel);
        throw Object.assign(new Error(`${fail}: injected`), { code: fail });
      }
      const dir = dirname(path);
      const file = basename(path);
      if (file === 'memory.limit_in_bytes' || file === 'memory.memsw.limit_in_bytes') {
        const other = file === 'memory.limit_in_bytes' ? 'memory.memsw.limit_in_bytes' : 'memory.limit_in_bytes';
        const otherVal = Number(await nodeCgroupFs.read(join(dir, other)).catch(() => 'NaN'));
        const v = value.trim() === '-1' ? 9223372036854771712 : Number(value);
        const limit = file === 'memory.limit_in_bytes' ? v : otherVal;
        const memsw = file === 'memory.limit_in_bytes' ? otherVal : v;
        if (Number.isFinite(limit) && Number.isFinite(memsw) && memsw < limit) {
          throw Object.assign(new Error('EINVAL: memsw below limit'), { code: 'EINVAL' });
        }
        await nodeCgroupFs.write(path, String(v)); // the kernel shows -1 as its "unlimited" number
        return;
      }
      if (file === 'cgroup.subtree_control') {
        // the kernel keeps a set: "+cpu" adds, "-cpu" removes; only controllers the dir offers
        const offered = (await nodeCgroupFs.read(join(dir, 'cgroup.controllers'))).trim().split(/\s+/);
        const set = new Set((await nodeCgroupFs.read(path)).trim().split(/\s+/).filter(Boolean));
        for (const tok of value.trim().split(/\s+/)) {
          const name = tok.slice(1);
          if (!offered.includes(name)) throw Object.assign(new Error('ENOENT: not offered'), { code: 'ENOENT' });
          if (tok.startsWith('+')) set.add(name);
          else set.delete(name);
        }
        await nodeCgroupFs.write(path, [...set].join(' '));
        return;
      }
      await nodeCgroupFs.write(path, value);
    },
    read: nodeCgroupFs.read,
    children: nodeCgroupFs.children,
    exists: nodeCgroupFs.exists,
    async mkdir(path) {
      await nodeCgroupFs.mkdir(path);
      const c = controllerOf(path);
      if (c === 'v2' || c === 'unified') {
        // a child offers only what the parent enabled, and has only those controllers' files
        const parentCtl = (
          await nodeCgroupFs.read(join(dirname(path), 'cgroup.subtree_control')).catch(() => '')
        ).trim();
        const enabled = parentCtl.split(/\s+/);
        const base = c === 'v2' ? V2_FILES : { 'cgroup.kill': '' };
        const files = Object.fromEntries(
          Object.entries(base).filter(([f]) => f.startsWith('cgroup.') || enabled.includes(f.split('.')[0] ?? '')),
        );
        populate(path, { ...files, 'cgroup.procs': '', 'cgroup.controllers': parentCtl, 'cgroup.subtree_control': '' });
      } else if (c !== null) {
        const files = c === 'cpu,cpuacct' ? { ...V1_FILES['cpu'], ...V1_FILES['cpuacct'] } : (V1_FILES[c] ?? {});
        populate(path, { 'cgroup.procs': '', ...files });
      }
    },
    async rmdir(path) {
      // As cgroupfs: control files go with the dir, but a cgroup with child cgroups is busy.
      const entries = await readdir(path, { withFileTypes: true });
      if (entries.some((e) => e.isDirectory())) {
        throw Object.assign(new Error(`EBUSY: resource busy, rmdir '${path}'`), { code: 'EBUSY' });
      }
      await rm(path, { recursive: true });
    },
  };
  return {
    root,
    fs,
    writesRel: () => writes.map(([p, v]) => [p, v]),
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}
