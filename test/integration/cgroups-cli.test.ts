/**
 * Resource limits through the real CLI (root): OOM → 137 + OOMKilled, fork bomb held by
 * --pids-limit, --cpus measured by `tvctl stats`, --cpuset-cpus, `tvctl update` live, devices, cleanup.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { detectCgroupMode } from '../../src/cgroups/index.js';
import type { StatsRow } from '../../src/cgroups/report.js';
import {
  REPO,
  hostTraces,
  inspectContainer,
  isRoot,
  sleep,
  tvctl,
  type TestRoots,
  useDemoRoots,
} from '../helpers/cli.js';
import { provided, withReason } from '../helpers/prereq.js';

const MiB = 1024 * 1024;
/** On cgroup v2 the device rules are an eBPF filter that native/out/cgdev loads; set-up builds it. */
const noCgdev =
  detectCgroupMode() === 'v2' && !existsSync(join(REPO, 'native', 'out', 'cgdev'))
    ? provided('native/out/cgdev is not built (make -C native)')
    : undefined;
const NET = ['--network', 'none'];

const cli = tvctl;
const inspect = inspectContainer;

async function stats(roots: TestRoots, ref: string): Promise<StatsRow> {
  const r = await cli(roots, ['stats', '--json', ref]);
  expect(r.exitCode, r.stderr).toBe(0);
  const rows = JSON.parse(r.stdout) as StatsRow[];
  expect(rows).toHaveLength(1);
  return rows[0]!;
}

async function runDetached(roots: TestRoots, args: string[]): Promise<string> {
  const r = await cli(roots, ['run', '-d', ...NET, ...args]);
  expect(r.exitCode, r.stderr).toBe(0);
  return r.stdout.trim();
}

describe.skipIf(!isRoot)('resource limits through the CLI (root)', () => {
  let roots!: TestRoots;
  useDemoRoots((r) => (roots = r));

  it('-m 32m: an allocation past the limit is OOM-killed (exit 137, OOMKilled), a neighbour keeps running', async () => {
    const neighbour = await runDetached(roots, ['-m', '32m', 'demo', 'sleep', '1000']);
    const rm = await cli(roots, [
      'run',
      '--rm',
      ...NET,
      '-m',
      '32m',
      'demo',
      'sh',
      '-c',
      'exec dd if=/dev/zero of=/dev/null bs=64M count=1',
    ]);
    expect(rm.exitCode).toBe(137);
    const r = await cli(roots, [
      'run',
      ...NET,
      '--name',
      'oom1',
      '-m',
      '32m',
      'demo',
      'sh',
      '-c',
      'exec dd if=/dev/zero of=/dev/null bs=64M count=1',
    ]);
    expect(r.exitCode).toBe(137);
    const info = await inspect(roots, 'oom1');
    expect(info.State.OOMKilled).toBe(true);
    expect(info.State.ExitCode).toBe(137);
    expect(info.HostConfig.Memory).toBe(32 * MiB);
    // the same program fits under a larger limit: the limit is what killed it
    const ok = await cli(roots, [
      'run',
      '--rm',
      ...NET,
      '-m',
      '128m',
      'demo',
      'sh',
      '-c',
      'exec dd if=/dev/zero of=/dev/null bs=64M count=1',
    ]);
    expect(ok.exitCode, ok.stderr).toBe(0);
    const n = await inspect(roots, neighbour);
    expect(n.State.Running).toBe(true);
    expect(n.State.OOMKilled).toBe(false);
    const oomId = info.Id as string;
    expect((await cli(roots, ['rm', 'oom1'])).exitCode).toBe(0);
    expect((await cli(roots, ['rm', '-f', neighbour])).exitCode).toBe(0);
    expect(await hostTraces(oomId)).toEqual([]);
    expect(await hostTraces(neighbour)).toEqual([]);
  });

  it('a fork bomb under --pids-limit 50 is held at 50, the host stays responsive, rm -f cleans it up', async () => {
    const id = await runDetached(roots, [
      '--pids-limit',
      '50',
      'demo',
      'sh',
      '-c',
      'bomb() { bomb | bomb & }; bomb; sleep 1000',
    ]);
    let max = 0;
    for (let i = 0; i < 3; i++) max = Math.max(max, (await stats(roots, id)).pids);
    expect(max).toBeLessThanOrEqual(50);
    expect(max).toBeGreaterThanOrEqual(40); // sampled: bomb processes come and go
    const peak = ['/sys/fs/cgroup/pids/tvctl', '/sys/fs/cgroup/tvctl']
      .map((d) => join(d, id, 'pids.peak'))
      .find((f) => existsSync(f));
    if (peak !== undefined) expect(Number(readFileSync(peak, 'utf8'))).toBe(50); // reached, never passed
    const t0 = Date.now();
    expect(spawnSync('true').status).toBe(0);
    expect(Date.now() - t0).toBeLessThan(2000);
    const rm = await cli(roots, ['rm', '-f', id]);
    expect(rm.exitCode, rm.stderr).toBe(0);
    expect(await hostTraces(id)).toEqual([]);
  });

  it('--cpus 0.5: a busy loop is measured ≈50% ± 15% of one CPU over 2 s by `tvctl stats`', async () => {
    const id = await runDetached(roots, ['--cpus', '0.5', 'demo', 'sh', '-c', 'while :; do :; done']);
    // The test host is a shared 2-CPU VM: while measuring, give tvctl's parent cgroup top weight so other
    // host work cannot starve the loop; the container's own quota is then the only limit. Restored after.
    const mode = detectCgroupMode();
    const weightFile = mode === 'v2' ? '/sys/fs/cgroup/tvctl/cpu.weight' : '/sys/fs/cgroup/cpu/tvctl/cpu.shares';
    const saved = existsSync(weightFile) ? readFileSync(weightFile, 'utf8').trim() : null;
    try {
      if (saved !== null) writeFileSync(weightFile, mode === 'v2' ? '10000' : '262144');
      await sleep(300);
      const samples = [(await stats(roots, id)).cpuPercent, (await stats(roots, id)).cpuPercent];
      const avg = (samples[0]! + samples[1]!) / 2;
      console.log(
        `tvctl stats, --cpus 0.5 busy loop: ${samples.map((s) => s.toFixed(1)).join('%, ')}% → ${avg.toFixed(1)}%`,
      );
      expect(avg).toBeGreaterThan(35);
      expect(avg).toBeLessThan(65);
    } finally {
      if (saved !== null) writeFileSync(weightFile, saved);
    }
    // the table form shows the same columns as Docker
    const table = await cli(roots, ['stats', '--no-stream', id]);
    expect(table.stdout.split('\n')[0]).toMatch(
      /^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS$/,
    );
    expect(table.stdout.split('\n')[1]).toMatch(new RegExp(`^${id.slice(0, 12)}\\s`));
    expect((await cli(roots, ['rm', '-f', id])).exitCode).toBe(0);
    expect(await hostTraces(id)).toEqual([]);
  });

  it('--cpuset-cpus 0 pins the container to CPU 0', async () => {
    const r = await cli(roots, [
      'run',
      '--rm',
      ...NET,
      '--cpuset-cpus',
      '0',
      'demo',
      'grep',
      'Cpus_allowed_list',
      '/proc/self/status',
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Cpus_allowed_list:\s+0$/m);
    const free = await cli(roots, ['run', '--rm', ...NET, 'demo', 'grep', 'Cpus_allowed_list', '/proc/self/status']);
    expect(free.stdout).not.toMatch(/^Cpus_allowed_list:\s+0$/m);
  });

  it('every process of the container is in its cgroup in every hierarchy, the supervisor is not', async () => {
    // The supervisor's child joins v1 hierarchies through `tasks` and the cgroup2 tree through
    // clone3(CLONE_INTO_CGROUP) (no cgroup.procs write, no RCU grace period): check the outcome from the host.
    const id = await runDetached(roots, ['demo', 'sh', '-c', 'sleep 1000 & exec sleep 1001']);
    try {
      const init = Number((await inspect(roots, id)).State.Pid);
      const kids = readFileSync(`/proc/${init}/task/${init}/children`, 'utf8').trim().split(/\s+/).map(Number);
      expect(kids).toHaveLength(1);
      const parentOf = (pid: number): number =>
        Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
      const unsharePid = parentOf(init);
      const shim = parentOf(unsharePid);
      const host = readFileSync('/proc/self/cgroup', 'utf8');
      // hierarchies with controllers, plus cgroup2's "0::" line; the named systemd tree is left alone, as runc does
      const joined = host
        .trim()
        .split('\n')
        .map((l) => l.split(':'))
        .filter(([num, ctrls]) => num === '0' || (ctrls !== '' && !ctrls!.startsWith('name=')))
        .map(([num, ctrls]) => `${num}:${ctrls}`);
      expect(joined.length).toBeGreaterThan(0);
      const cgroupsOf = (pid: number): Map<string, string> =>
        new Map(
          readFileSync(`/proc/${pid}/cgroup`, 'utf8')
            .trim()
            .split('\n')
            .map((l) => {
              const [num, ctrls, ...path] = l.split(':');
              return [`${num}:${ctrls}`, path.join(':')] as [string, string];
            }),
        );
      for (const pid of [unsharePid, init, ...kids]) {
        const cg = cgroupsOf(pid);
        for (const h of joined) expect(cg.get(h), `pid ${pid} in ${h}`).toBe(`/tvctl/${id}`);
      }
      const shimCg = cgroupsOf(shim);
      for (const h of joined) expect(shimCg.get(h), `supervisor in ${h}`).not.toBe(`/tvctl/${id}`);
    } finally {
      await cli(roots, ['rm', '-f', id]);
    }
  });

  it('update -m on a running container takes effect (both ways), and is recorded', async () => {
    const id = await runDetached(roots, ['-m', '64m', 'demo', 'sleep', '1000']);
    const alloc48 = ['exec', id, 'sh', '-c', 'exec dd if=/dev/zero of=/dev/null bs=48M count=1'];
    expect((await cli(roots, alloc48)).exitCode).toBe(0);
    const up = await cli(roots, ['update', '-m', '32m', '--pids-limit', '20', id]);
    expect(up.exitCode, up.stderr).toBe(0);
    const s = await stats(roots, id);
    expect(s.memoryLimitBytes).toBe(32 * MiB);
    expect((await cli(roots, alloc48)).exitCode).toBe(137);
    const info = await inspect(roots, id);
    expect(info.HostConfig.Memory).toBe(32 * MiB);
    expect(info.HostConfig.PidsLimit).toBe(20);
    expect(info.State.Running).toBe(true);
    // Docker's rule: raising memory above the recorded swap total needs --memory-swap too
    const bad = await cli(roots, ['update', '-m', '256m', id]);
    expect(bad.exitCode).toBe(125);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect((await cli(roots, ['update', '-m', '128m', '--memory-swap', '256m', id])).exitCode).toBe(0);
    expect((await cli(roots, alloc48)).exitCode).toBe(0);
    expect((await cli(roots, ['rm', '-f', id])).exitCode).toBe(0);
    expect(await hostTraces(id)).toEqual([]);
  });

  it('update of an unknown container or without flags fails with one line', async () => {
    const none = await cli(roots, ['update', '-m', '32m', 'nosuchcontainer']);
    expect(none.exitCode).not.toBe(0);
    expect(none.stderr.trim().split('\n')).toHaveLength(1);
    const noFlags = await cli(roots, ['update', 'whatever']);
    expect(noFlags.exitCode).toBe(1); // Docker: nothing to do is a plain error, not a flag error
    expect(noFlags.stderr).toMatch(/one or more flags/);
  });

  it.skipIf(noCgdev)(
    withReason('devices: root in the container can mknod the host disk (254:0) but not open it; loop0 too', noCgdev),
    async () => {
      const r = await cli(roots, [
        'run',
        '--rm',
        ...NET,
        'demo',
        'sh',
        '-c',
        'mknod /tmp/disk b 254 0 && echo MKNOD_OK; (exec 3</tmp/disk) && echo DISK_OPEN; mknod /tmp/loop b 7 0; (exec 3</tmp/loop) && echo LOOP_OPEN; (exec 3</dev/null) && echo NULL_OK',
      ]);
      expect(r.stdout).toContain('MKNOD_OK');
      expect(r.stdout).not.toContain('DISK_OPEN');
      expect(r.stdout).not.toContain('LOOP_OPEN');
      expect(r.stdout).toContain('NULL_OK');
      expect(r.stderr).toMatch(/Operation not permitted/);
    },
  );
});
