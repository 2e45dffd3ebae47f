import { execa } from 'execa';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostTraces, inspectContainer, isRoot, tvctl, waitFor, type TestRoots, useDemoRoots } from '../helpers/cli.js';

const inspect = inspectContainer;

describe.skipIf(!isRoot)('container lifecycle through the CLI (root)', () => {
  let roots!: TestRoots;
  useDemoRoots((r) => (roots = r));

  it('propagates exit codes as Docker does: own code, 127 not found, 126 not executable', async () => {
    expect((await tvctl(roots, ['run', '--rm', '--network', 'none', 'demo', 'true'])).exitCode).toBe(0);
    expect((await tvctl(roots, ['run', '--rm', '--network', 'none', 'demo', 'sh', '-c', 'exit 3'])).exitCode).toBe(3);
    const nf = await tvctl(roots, ['run', '--rm', '--network', 'none', 'demo', 'nosuchcmd']);
    expect(nf.exitCode).toBe(127);
    expect(nf.stderr.trim().split('\n')).toHaveLength(1);
    expect(nf.stderr).toMatch(/nosuchcmd/);
    const ne = await tvctl(roots, ['run', '--rm', '--network', 'none', 'demo', '/etc/passwd']);
    expect(ne.exitCode).toBe(126);
    expect(await readdir(join(roots.state, 'containers')).catch(() => [])).toEqual([]);
  });

  it('fails bad input with one line, exit 125, and leaves nothing behind', async () => {
    for (const args of [
      ['run', '--rm', 'nosuchimage', 'true'],
      ['run', '--bogus-flag', 'demo', 'true'],
      ['run', '--cap-add', 'NOT_A_CAP', 'demo', 'true'],
      ['run', '-m', 'lots', 'demo', 'true'],
    ]) {
      const r = await tvctl(roots, args);
      expect(r.exitCode, args.join(' ')).toBe(125);
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(/^tvctl: /);
    }
    expect((await tvctl(roots, ['run', 'nosuchimage'])).stderr).toMatch(/image "nosuchimage" not found/);
    expect(await readdir(join(roots.state, 'containers')).catch(() => [])).toEqual([]);
  });

  it('runs detached: full id, ps, logs, exec, stop, rm, and nothing left on the host', async () => {
    const run = await tvctl(roots, [
      'run',
      '-d',
      '--name',
      'web1',
      '-l',
      'tenant=a',
      '--network',
      'none',
      'demo',
      'sh',
      '-c',
      'echo out; echo err >&2; exec sleep 1000',
    ]);
    expect(run.exitCode, run.stderr).toBe(0);
    const id = run.stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);

    const ps = await tvctl(roots, ['ps']);
    expect(ps.stdout.split('\n')[0]).toMatch(/^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
    expect(ps.stdout).toMatch(new RegExp(`${id.slice(0, 12)}\\s+demo\\s+"sh -c echo out; ech…"\\s+.*\\s+Up .*web1`));
    expect((await tvctl(roots, ['ps', '-q', '--filter', 'label=tenant=a'])).stdout.trim()).toBe(id.slice(0, 12));
    expect((await tvctl(roots, ['ps', '-q', '--filter', 'label=tenant=b'])).stdout.trim()).toBe('');

    await waitFor(
      async () => ((await tvctl(roots, ['logs', 'web1'])).stdout.includes('out') ? true : undefined),
      'logs',
    );
    const logs = await tvctl(roots, ['logs', '-t', 'web1']);
    expect(logs.stdout).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z out$/m);
    expect(logs.stderr).toMatch(/Z err$/m);

    const ex = await tvctl(roots, [
      'exec',
      'web1',
      'sh',
      '-c',
      'grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status; exit 7',
    ]);
    expect(ex.exitCode).toBe(7);
    expect(ex.stdout).toMatch(/CapEff:\s+00000000a80425fb/);
    expect(ex.stdout).toMatch(/NoNewPrivs:\s+1/);
    expect(ex.stdout).toMatch(/Seccomp:\s+2/);

    const rmRunning = await tvctl(roots, ['rm', id.slice(0, 8)]);
    expect(rmRunning.exitCode).toBe(1);
    expect(rmRunning.stderr).toMatch(/stop the container before attempting removal or force remove/);

    expect((await tvctl(roots, ['stop', '-t', '1', 'web1'])).exitCode).toBe(0);
    const info = await inspect(roots, 'web1');
    expect(info.State.Status).toBe('exited');
    expect(info.State.ExitCode).toBe(137); // sleep as PID 1 ignores SIGTERM, so the timeout's SIGKILL ends it
    expect((await tvctl(roots, ['ps', '-a'])).stdout).toMatch(/Exited \(137\)/);
    expect((await tvctl(roots, ['logs', 'web1'])).stdout).toMatch(/out/);

    expect((await tvctl(roots, ['rm', 'web1'])).exitCode).toBe(0);
    expect((await tvctl(roots, ['ps', '-aq'])).stdout.trim()).toBe('');
    expect(await hostTraces(id)).toEqual([]);
  });

  it('formats inspect, ps, images and image inspect with Go templates, as Docker users type them', async () => {
    const run = await tvctl(roots, [
      'run',
      '-d',
      '--name',
      'fmt',
      '-l',
      'tier=front',
      '--network',
      'none',
      'demo',
      'sleep',
      '60',
    ]);
    expect(run.exitCode, run.stderr).toBe(0);
    const id = run.stdout.trim();
    try {
      const pid = await tvctl(roots, ['inspect', '-f', '{{.State.Pid}} {{.Name}} {{json .Config.Labels}}', 'fmt']);
      expect(pid.exitCode, pid.stderr).toBe(0);
      const [p, name, labels] = pid.stdout.split(' ');
      expect(Number(p)).toBeGreaterThan(1);
      expect((await execa('cat', [`/proc/${p}/comm`])).stdout).toBe('sleep'); // the real container process
      expect([name, labels]).toEqual(['/fmt', '{"tier":"front"}']);
      const table = await tvctl(roots, ['ps', '--format', 'table {{.ID}}\t{{.Names}}\t{{.Labels}}']);
      expect(table.stdout.split('\n')).toEqual([
        'CONTAINER ID   NAMES   LABELS',
        `${id.slice(0, 12)}   fmt     tier=front`,
      ]);
      expect((await tvctl(roots, ['ps', '--format', '{{.Names}} {{.Label "tier"}}'])).stdout).toBe('fmt front');
      const json = await tvctl(roots, ['ps', '--format', 'json']);
      expect(JSON.parse(json.stdout)).toMatchObject({ ID: id.slice(0, 12), Names: 'fmt', State: 'running' });
      const images = await tvctl(roots, ['images', '--format', '{{.Repository}}:{{.Tag}}']);
      expect(images.stdout).toBe('demo:latest');
      const arch = await tvctl(roots, ['image', 'inspect', '-f', '{{.Os}}/{{.Architecture}}', 'demo']);
      expect(arch.stdout).toBe('linux/amd64');
      // a template that cannot work is one line, exit 125, and prints nothing else
      for (const args of [
        ['inspect', '-f', '{{.Nope}}', 'fmt'],
        ['ps', '--format', '{{if .ID}}'],
        ['images', '--format', '{{nosuch .ID}}'],
      ]) {
        const bad = await tvctl(roots, args);
        expect(bad.exitCode, args.join(' ')).toBe(125);
        expect(bad.stdout).toBe('');
        expect(bad.stderr).toMatch(/^tvctl: template parsing error: .+\n?$/);
      }
    } finally {
      await tvctl(roots, ['rm', '-f', id]);
    }
  });

  it('derives state from facts: container killed with SIGKILL while no tvctl runs shows Exited (137)', async () => {
    const id = (await tvctl(roots, ['run', '-d', '--network', 'none', 'demo', 'sleep', '1000'])).stdout.trim();
    const info = await inspect(roots, id);
    process.kill(info.State.Pid, 'SIGKILL');
    await waitFor(async () => ((await inspect(roots, id)).State.Running ? undefined : true), 'exit');
    const after = await inspect(roots, id);
    expect([after.State.Status, after.State.ExitCode]).toEqual(['exited', 137]);
    expect((await tvctl(roots, ['wait', id])).stdout.trim()).toBe('137');
    expect((await tvctl(roots, ['rm', id])).exitCode).toBe(0);
    expect(await hostTraces(id)).toEqual([]);
  });

  it('cleans up completely with rm -f after the supervisor itself was killed -9', async () => {
    const id = (
      await tvctl(roots, ['run', '-d', '--network', 'bridge', '-m', '64m', 'demo', 'sleep', '1000'])
    ).stdout.trim();
    const shimPid = Number((await execa('cat', [join(roots.state, 'containers', id, 'shim.pid')])).stdout);
    process.kill(shimPid, 'SIGKILL');
    await waitFor(
      async () => ((await inspect(roots, id)).State.Running ? undefined : true),
      'container to die with its supervisor',
    );
    expect((await tvctl(roots, ['rm', '-f', id])).exitCode).toBe(0);
    expect(await hostTraces(id)).toEqual([]);
  });

  it('gives a contested --name to exactly one of two concurrent runs', async () => {
    const [a, b] = await Promise.all([
      tvctl(roots, ['run', '-d', '--name', 'dup', '--network', 'none', 'demo', 'sleep', '100']),
      tvctl(roots, ['run', '-d', '--name', 'dup', '--network', 'none', 'demo', 'sleep', '100']),
    ]);
    expect([a.exitCode, b.exitCode].sort()).toEqual([0, 125]);
    expect((a.exitCode ? a : b).stderr).toMatch(/name "\/dup" is already in use/);
    expect((await tvctl(roots, ['rm', '-f', 'dup'])).exitCode).toBe(0);
  });

  it('applies restart policies: on-failure:2 restarts twice, then stays exited', async () => {
    const id = (
      await tvctl(roots, [
        'run',
        '-d',
        '--restart',
        'on-failure:2',
        '--network',
        'none',
        'demo',
        'sh',
        '-c',
        'echo try; exit 4',
      ])
    ).stdout.trim();
    await waitFor(
      async () => {
        const i = await inspect(roots, id);
        return i.State.Status === 'exited' && i.RestartCount === 2 ? true : undefined;
      },
      'two restarts',
      20_000,
    );
    expect((await inspect(roots, id)).State.ExitCode).toBe(4);
    expect((await tvctl(roots, ['logs', id])).stdout.match(/try/g)).toHaveLength(3);
    await tvctl(roots, ['rm', id]);
  });

  it('runs 50 detached containers concurrently without errors, then removes them all', async () => {
    const runs = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        tvctl(roots, ['run', '-d', '--name', `c${i}`, '--network', 'none', 'demo', 'sleep', '1000'], {
          timeout: 120_000,
        }),
      ),
    );
    expect(runs.map((r) => r.exitCode)).toEqual(Array(50).fill(0));
    const ids = runs.map((r) => r.stdout.trim());
    expect(new Set(ids).size).toBe(50);
    const ps = JSON.parse((await tvctl(roots, ['ps', '--json'])).stdout) as Array<{ id: string; state: string }>;
    expect(ps.filter((c) => ids.includes(c.id) && c.state === 'running')).toHaveLength(50);
    const rm = await tvctl(roots, ['rm', '-f', ...ids], { timeout: 120_000 });
    expect(rm.exitCode, rm.stderr).toBe(0);
    for (const id of ids) expect(await hostTraces(id)).toEqual([]);
  });
});
