/**
 * cgroup limits against the real kernel (root). Every test makes its own container cgroup under tvctl/,
 * runs real processes in it (a shell writes its own pid into every procsFiles entry, then execs the
 * workload — what the C supervisor does) and removes everything in afterEach.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_DEVICE_RULES,
  attachDeviceFilter,
  cgdevPath,
  createCgroupManager,
  detectCgroupMode,
  parseLimits,
  type CgroupHandle,
  type CgroupManager,
} from '../../src/cgroups/index.js';
import { packageRoot } from '../../src/paths.js';
import { isRoot, notRoot } from '../helpers/cli.js';
import { withReason } from '../helpers/prereq.js';

const ROOT = '/sys/fs/cgroup';
const mode = isRoot ? detectCgroupMode(ROOT) : 'v2';
const v1Devices = mode !== 'v2' && existsSync(join(ROOT, 'devices'));
const hybrid = mode === 'hybrid';

let m: CgroupManager;
const ids: string[] = [];
const children: ChildProcess[] = [];
const tmps: string[] = [];
const extraDirs: string[] = [];
const cleanups: Array<() => Promise<void>> = [];

function parentDirs(parent: string): string[] {
  const found = readdirSync(ROOT).map((h) => join(ROOT, h, parent));
  found.push(join(ROOT, parent));
  return found.filter((d) => existsSync(d));
}
let seq = 0;

function newId(): string {
  const id = `itest-${process.pid}-${++seq}`;
  ids.push(id);
  return id;
}

/** Start `script` in the container's cgroups: the shell joins every hierarchy first, then execs. */
function runIn(
  procsFiles: string[],
  script: string,
): {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output: () => string;
} {
  const join = procsFiles.map((f) => `echo $$ > ${f} || exit 99;`).join(' ');
  const child = spawn('sh', ['-c', `${join} ${script}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, exited, output: () => out };
}

async function waitFor(pred: () => Promise<boolean> | boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await sleep(20);
  }
}

/** every dir any hierarchy could hold for this id */
function leftovers(id: string): string[] {
  const found: string[] = [];
  for (const h of readdirSync(ROOT)) {
    for (const d of [join(ROOT, h, 'tvctl', id), join(ROOT, 'tvctl', id)]) if (existsSync(d)) found.push(d);
  }
  return [...new Set(found)];
}

describe.skipIf(!isRoot)(withReason(`cgroups on this host (${mode})`, notRoot), () => {
  beforeAll(() => {
    m = createCgroupManager();
    if (!existsSync(cgdevPath())) spawnSync('make', ['-C', join(packageRoot(), 'native')], { stdio: 'inherit' });
  });

  afterEach(async () => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const id of ids.splice(0)) {
      await m.destroy(id);
      expect(leftovers(id)).toEqual([]);
    }
    for (const d of extraDirs.splice(0)) {
      await m.destroy('unused'); // no-op; keeps the manager warm
      spawnSync('sh', ['-c', `cat ${d}/cgroup.procs | xargs -r kill -9; sleep 0.1; rmdir ${d}`]);
      expect(existsSync(d)).toBe(false);
    }
    for (const t of tmps.splice(0)) rmSync(t, { recursive: true, force: true });
    for (const c of cleanups.splice(0)) await c();
  });

  it('detects this host as hybrid', () => {
    // the machines this project targets; on another host this documents what was found
    expect(['v1', 'hybrid', 'v2']).toContain(m.mode);
    if (existsSync(join(ROOT, 'unified', 'cgroup.controllers')) && existsSync(join(ROOT, 'memory')))
      expect(m.mode).toBe('hybrid');
  });

  it('a process allocating past 32m is OOM-killed; a neighbour keeps running', async () => {
    const id = newId();
    const neighbourId = newId();
    const h = await m.create(id, parseLimits({ memory: '32m' }));
    const hn = await m.create(neighbourId, parseLimits({ memory: '32m' }));
    const neighbour = runIn(hn.procsFiles, 'exec sleep 60');
    const hog = runIn(h.procsFiles, 'exec dd if=/dev/zero of=/dev/null bs=64M count=1');
    const r = await hog.exited;
    expect(r.signal).toBe('SIGKILL');
    expect(await m.oomKilled(id)).toBe(true);
    expect(readFileSync(h.oomFiles[0]!, 'utf8')).toMatch(/oom_kill [1-9]/);
    expect(neighbour.child.exitCode).toBeNull();
    expect(await m.oomKilled(neighbourId)).toBe(false);
    expect(await m.pids(neighbourId)).toEqual([neighbour.child.pid]);
  });

  it('the same allocation under 128m succeeds (the limit, not the workload, is what kills)', async () => {
    const id = newId();
    const h = await m.create(id, parseLimits({ memory: '128m' }));
    const r = await runIn(h.procsFiles, 'exec dd if=/dev/zero of=/dev/null bs=64M count=1').exited;
    expect(r).toEqual({ code: 0, signal: null });
    expect(await m.oomKilled(id)).toBe(false);
  });

  it('a fork bomb under pids limit 50 is held at 50, the host stays responsive, destroy ends it', async () => {
    const id = newId();
    const h = await m.create(id, parseLimits({ pidsLimit: 50, memory: '256m' }));
    expect((await m.stats(id)).pidsLimit).toBe(50); // never start a bomb without the limit in place
    runIn(h.procsFiles, 'bomb() { bomb | bomb & }; bomb; sleep 60');
    let max = 0;
    const end = Date.now() + 2000;
    while (Date.now() < end) {
      max = Math.max(max, (await m.stats(id)).pidsCurrent);
      await sleep(50);
    }
    expect(max).toBeLessThanOrEqual(50);
    expect(max).toBeGreaterThanOrEqual(40); // sampled: bomb processes come and go
    const pidsDirPeak = h.dirs.find((d) => d.includes('/pids/')) ?? h.dirs[0]!;
    if (existsSync(join(pidsDirPeak, 'pids.peak'))) {
      expect(Number(readFileSync(join(pidsDirPeak, 'pids.peak'), 'utf8'))).toBe(50); // reached, never passed
    }
    const t0 = Date.now();
    expect(spawnSync('true').status).toBe(0);
    expect(Date.now() - t0).toBeLessThan(2000);
    const pidsDir = h.dirs.find((d) => d.includes('/pids/')) ?? h.dirs[0]!;
    expect(readFileSync(join(pidsDir, 'pids.events'), 'utf8')).toMatch(/max [1-9]/); // forks were refused
    await m.destroy(id);
    expect(leftovers(id)).toEqual([]);
  });

  it('--cpus 0.5 gives ≈50% of one CPU over 2 s (an unlimited neighbour gets ≈100%)', async () => {
    // This 2-CPU host is shared with other busy work; a separate parent with maximum weight keeps that work
    // from starving the measurement, so the quota is the only thing holding the limited loop back.
    const parent = `tvctl-itest-cpu-${process.pid}`;
    const mc = createCgroupManager({ parent });
    const id = `cpu-${process.pid}-limited`;
    const freeId = `cpu-${process.pid}-free`;
    cleanups.push(async () => {
      await mc.destroy(id);
      await mc.destroy(freeId);
      for (const d of parentDirs(parent)) rmdirSync(d);
      expect(parentDirs(parent)).toEqual([]);
    });
    const h = await mc.create(id, parseLimits({ cpus: '0.5' }));
    const hf = await mc.create(freeId, {});
    if (mode === 'v2') writeFileSync(join(ROOT, parent, 'cpu.weight'), '10000');
    else writeFileSync(join(ROOT, 'cpu', parent, 'cpu.shares'), '262144');
    runIn(h.procsFiles, 'while :; do :; done');
    runIn(hf.procsFiles, 'while :; do :; done');
    await sleep(300);
    const a0 = (await mc.stats(id)).cpuUsageNs;
    const b0 = (await mc.stats(freeId)).cpuUsageNs;
    const t0 = process.hrtime.bigint();
    await sleep(2000);
    const a1 = (await mc.stats(id)).cpuUsageNs;
    const b1 = (await mc.stats(freeId)).cpuUsageNs;
    const wall = Number(process.hrtime.bigint() - t0);
    const limited = (a1 - a0) / wall;
    const free = (b1 - b0) / wall;
    console.log(
      `cpu share over ${(wall / 1e9).toFixed(2)} s: --cpus 0.5 → ${(limited * 100).toFixed(1)} %, unlimited → ${(free * 100).toFixed(1)} %`,
    );
    expect(limited).toBeGreaterThan(0.35);
    expect(limited).toBeLessThan(0.65);
    expect(free).toBeGreaterThan(0.75);
  });

  it('--cpuset-cpus 0 pins the tasks to CPU 0', async () => {
    const id = newId();
    const h = await m.create(id, parseLimits({ cpusetCpus: '0' }));
    const p = runIn(h.procsFiles, 'while :; do :; done');
    // the shell joins the hierarchies one by one; once it is in the cpuset one its affinity must be CPU 0
    const cpusetProcs = h.procsFiles.find((f) => f.includes('/cpuset/'))!;
    await waitFor(() => readFileSync(cpusetProcs, 'utf8').trim() === String(p.child.pid));
    const status = readFileSync(`/proc/${p.child.pid}/status`, 'utf8');
    expect(status).toMatch(/^Cpus_allowed_list:\s+0$/m);
    await sleep(500);
    const acct = h.dirs.find((d) => /\/cpuacct\//.test(d) || /cpu,cpuacct/.test(d));
    if (acct !== undefined) {
      const perCpu = readFileSync(join(acct, 'cpuacct.usage_percpu'), 'utf8').trim().split(/\s+/).map(Number);
      expect(perCpu[0]!).toBeGreaterThan(20e6); // ran (the host is shared, so not necessarily a full CPU)
      expect(perCpu[1] ?? 0).toBeLessThan(perCpu[0]! * 0.05);
    }
  });

  it('update changes limits on a live container', async () => {
    const id = newId();
    const h = await m.create(id, parseLimits({ memory: '32m', pidsLimit: 50 }));
    runIn(h.procsFiles, 'exec sleep 60');
    await waitFor(async () => (await m.pids(id)).length === 1);
    await m.update(
      id,
      parseLimits({ memory: '64m', memorySwap: '128m', pidsLimit: 20, cpus: '1' }, { forUpdate: true }),
    );
    const s = await m.stats(id);
    expect(s.memoryLimitBytes).toBe(64 * 1024 * 1024);
    expect(s.pidsLimit).toBe(20);
    expect(s.pidsCurrent).toBe(1);
    // shrinking below both: the memsw/limit order must be right for the kernel to accept it
    await m.update(id, parseLimits({ memory: '16m', memorySwap: '16m' }, { forUpdate: true }));
    expect((await m.stats(id)).memoryLimitBytes).toBe(16 * 1024 * 1024);
    // and the new limit bites
    const r = await runIn(h.procsFiles, 'exec dd if=/dev/zero of=/dev/null bs=32M count=1').exited;
    expect(r.signal).toBe('SIGKILL');
  });

  // Opening is tried with `exec 3<` (open only, no read). On this VM the host itself refuses to open 254:0
  // (vda), so loop0 (b 7:0) and kmsg (c 1:11), which open fine outside, prove the cgroup is what denies.
  const deviceScript = (t: string): string =>
    [
      `mknod ${t}/disk b 254 0 && echo MKNOD_OK`,
      `(exec 3<${t}/disk) && echo DISK_OPEN_OK`,
      `mknod ${t}/loop b 7 0; (exec 3<${t}/loop) && echo LOOP_OPEN_OK`,
      `mknod ${t}/kmsg c 1 11; (exec 3<${t}/kmsg) && echo KMSG_OPEN_OK`,
      `mknod ${t}/full c 1 7; (exec 3<${t}/full) && echo FULL_OPEN_OK`,
      `echo x > /dev/null && echo NULL_OK`,
      `head -c1 /dev/zero | wc -c`,
    ].join('; ');

  function expectDeviceAllowlist(out: string, t: string): void {
    expect(out).toContain('MKNOD_OK'); // "b *:* m": creating nodes stays allowed, as in Docker
    expect(out).not.toContain('DISK_OPEN_OK');
    expect(out).not.toContain('LOOP_OPEN_OK');
    expect(out).not.toContain('KMSG_OPEN_OK');
    expect(out).toMatch(/loop: Operation not permitted/);
    expect(out).toMatch(/kmsg: Operation not permitted/);
    expect(out).toContain('FULL_OPEN_OK'); // c 1:7 is on the list
    expect(out).toContain('NULL_OK');
    expect(out).toMatch(/^1$/m); // /dev/zero readable
    // outside the container cgroup the same loop and kmsg nodes open
    expect(spawnSync('sh', ['-c', `exec 3<${t}/loop`]).status).toBe(0);
    expect(spawnSync('sh', ['-c', `exec 3<${t}/kmsg`]).status).toBe(0);
  }

  it.skipIf(!v1Devices)(
    'devices (v1): mknod of block 254:0 works, opening it is EPERM; the allowlist holds',
    async () => {
      const id = newId();
      const h = await m.create(id, {});
      const t = mkdtempSync(join(tmpdir(), 'tvctl-dev-'));
      tmps.push(t);
      const p = runIn(h.procsFiles, deviceScript(t));
      await p.exited;
      expectDeviceAllowlist(p.output(), t);
    },
  );

  it.skipIf(!hybrid)(
    'devices (v2 program from native/cgdev, on the unified hierarchy): same allowlist holds',
    async () => {
      const dir = join(ROOT, 'unified', `tvctl-itest-${process.pid}`);
      mkdirSync(dir);
      extraDirs.push(dir);
      await attachDeviceFilter(dir, DEFAULT_DEVICE_RULES);
      const t = mkdtempSync(join(tmpdir(), 'tvctl-dev-'));
      tmps.push(t);
      const p = runIn([join(dir, 'cgroup.procs')], deviceScript(t));
      await p.exited;
      expectDeviceAllowlist(p.output(), t);
    },
  );

  it.skipIf(!hybrid)(
    'the v2 manager on the real cgroup2 tree (unified): device program, join, stats, cgroup.kill, cleanup',
    async () => {
      // This host's cgroup2 tree has no cpu/memory/pids controllers (they are bound to v1), so only the
      // controller-independent half of CgroupV2Manager can run on a real kernel here.
      const parent = `tvctl-itest-v2-${process.pid}`;
      const root = join(ROOT, 'unified');
      const m2 = createCgroupManager({ root, mode: 'v2', parent });
      const id = 'v2a';
      cleanups.push(async () => {
        await m2.destroy(id);
        await m2.destroy('v2b');
        if (existsSync(join(root, parent))) rmdirSync(join(root, parent));
      });
      const h = await m2.create(id, {});
      expect(h.dirs).toEqual([join(root, parent, id)]);
      expect(await m2.list()).toEqual([id]);
      const t = mkdtempSync(join(tmpdir(), 'tvctl-dev-'));
      tmps.push(t);
      const p = runIn(
        h.procsFiles,
        `${deviceScript(t)}; i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; exec sleep 60`,
      );
      await waitFor(() => p.output().includes('NULL_OK') && p.output().split('\n').length > 2, 10_000);
      await waitFor(async () => (await m2.stats(id)).cpuUsageNs > 50e6, 20_000);
      expectDeviceAllowlist(p.output(), t);
      expect(await m2.pids(id)).toEqual([p.child.pid]);
      await m2.destroy(id); // cgroup.kill
      expect((await p.exited).signal).toBe('SIGKILL');
      expect(existsSync(h.dirs[0]!)).toBe(false);
      // a limit whose controller is not available fails with one line and leaves nothing
      await expect(m2.create('v2b', { pidsLimit: 10 })).rejects.toThrow(/pids.max: ENOENT \(controller not enabled/);
      expect(existsSync(join(root, parent, 'v2b'))).toBe(false);
    },
  );

  it('destroy removes the dirs in every hierarchy, with tasks still running, and is idempotent', async () => {
    const id = newId();
    const h: CgroupHandle = await m.create(id, parseLimits({ memory: '64m', pidsLimit: 20 }));
    expect(leftovers(id).sort()).toEqual([...h.dirs].sort());
    const p = runIn(h.procsFiles, 'sleep 60 & sleep 60 & exec sleep 60');
    await waitFor(async () => (await m.pids(id)).length === 3);
    await m.destroy(id);
    expect(leftovers(id)).toEqual([]);
    expect((await p.exited).signal).toBe('SIGKILL');
    await m.destroy(id);
  });

  it('destroy also removes sub-cgroups a container made, and kills the tasks inside them', async () => {
    const id = newId();
    const h = await m.create(id, {});
    const nested = h.dirs.map((d) => join(d, 'inner'));
    for (const d of nested) mkdirSync(d);
    const p = runIn(
      nested.filter((d) => !d.includes('/cpuset/')).map((d) => join(d, 'cgroup.procs')),
      'exec sleep 60',
    );
    await waitFor(
      () =>
        existsSync(join(nested[0]!, 'cgroup.procs')) &&
        readFileSync(join(nested[0]!, 'cgroup.procs'), 'utf8').trim() !== '',
    );
    await m.destroy(id);
    expect((await p.exited).signal).toBe('SIGKILL');
    expect(leftovers(id)).toEqual([]);
  });

  it('a create that fails half-way leaves nothing behind', async () => {
    const id = newId();
    await expect(m.create(id, { cpusetCpus: '7' })).rejects.toThrow(/cpuset.cpus/);
    expect(leftovers(id)).toEqual([]);
  });
});
