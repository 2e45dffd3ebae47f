import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importDemo, isRoot, makeRoots, tvctl, type TestRoots } from '../helpers/cli.js';

describe.skipIf(!isRoot)('tvctl run options, as Docker has them (root)', () => {
  let roots: TestRoots;
  let dir: string;
  beforeAll(async () => {
    roots = await makeRoots();
    await importDemo(roots);
    dir = await mkdtemp(join(tmpdir(), 'tvctl-vol-'));
  });
  afterAll(async () => {
    await roots.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  const run = (args: string[]) => tvctl(roots, ['run', '--rm', '--network', 'none', ...args]);

  it('-e, --env-file, -w, -u and -h reach the process', async () => {
    const envFile = join(dir, 'env');
    await writeFile(envFile, '# comment\nFROM_FILE=yes\nOVERRIDE=file\n');
    const r = await run([
      '-e',
      'A=1',
      '--env-file',
      envFile,
      '-e',
      'OVERRIDE=flag',
      '-w',
      '/tmp/work',
      '-u',
      '65534:65534',
      '-h',
      'box',
      'demo',
      'sh',
      '-c',
      'echo $A $FROM_FILE $OVERRIDE; pwd; id -u; id -g; hostname; cat /etc/hostname; grep CapEff /proc/self/status',
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.split('\n')).toEqual([
      '1 yes flag',
      '/tmp/work',
      '65534',
      '65534',
      'box',
      'box',
      'CapEff:\t0000000000000000',
    ]);
  });

  it('-u resolves names from the image /etc/passwd; an unknown name fails clearly', async () => {
    expect((await run(['-u', 'daemon', 'demo', 'id'])).stdout).toMatch(/uid=1\(daemon\) gid=1\(daemon\)/);
    const bad = await run(['-u', 'nobodyhere', 'demo', 'id']);
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toMatch(/nobodyhere/);
  });

  it('--entrypoint replaces the command; CMD args follow it', async () => {
    expect((await run(['--entrypoint', 'echo', 'demo', 'a', 'b'])).stdout).toBe('a b');
  });

  it('-v binds host dirs read-write or read-only', async () => {
    await writeFile(join(dir, 'in.txt'), 'from host');
    const rw = await run(['-v', `${dir}:/data`, 'demo', 'sh', '-c', 'cat /data/in.txt; echo from-ctr > /data/out.txt']);
    expect(rw.exitCode, rw.stderr).toBe(0);
    expect(rw.stdout).toBe('from host');
    expect(await readFile(join(dir, 'out.txt'), 'utf8')).toBe('from-ctr\n');
    const ro = await run(['-v', `${dir}:/data:ro`, 'demo', 'sh', '-c', 'echo x > /data/nope']);
    expect(ro.exitCode).not.toBe(0);
    expect(ro.stderr).toMatch(/Read-only file system/);
  });

  it('--read-only makes the root read-only; each container writes to its own layer otherwise', async () => {
    const ro = await run(['--read-only', 'demo', 'sh', '-c', 'touch /etc/x']);
    expect(ro.exitCode).not.toBe(0);
    expect(ro.stderr).toMatch(/Read-only file system/);
    const a = await tvctl(roots, [
      'run',
      '-d',
      '--network',
      'none',
      'demo',
      'sh',
      '-c',
      'echo secret > /etc/mine; sleep 100',
    ]);
    const id = a.stdout.trim();
    await new Promise((r) => setTimeout(r, 500));
    const b = await run(['demo', 'sh', '-c', 'cat /etc/mine || echo absent']);
    expect(b.stdout).toMatch(/absent/);
    const same = await tvctl(roots, ['exec', id, 'cat', '/etc/mine']);
    expect(same.stdout).toBe('secret');
    await tvctl(roots, ['rm', '-f', id]);
  });

  it('--init keeps a reaping init as PID 1 and forwards signals; without it the command is PID 1', async () => {
    expect((await run(['demo', 'sh', '-c', 'echo $$'])).stdout).toBe('1');
    const withInit = await run(['--init', 'demo', 'sh', '-c', 'echo $$; cat /proc/1/comm']);
    expect(withInit.stdout.split('\n')[0]).not.toBe('1');
    const killed = await run(['--init', 'demo', 'sh', '-c', 'kill -TERM $$; sleep 5']);
    expect(killed.exitCode).toBe(143);
  });

  it('--cap-add / --cap-drop change the capability set (ALL accepted)', async () => {
    const caps = async (args: string[]) =>
      (await run([...args, 'demo', 'grep', 'CapEff', '/proc/self/status'])).stdout.split('\t')[1];
    expect(await caps([])).toBe('00000000a80425fb');
    expect(await caps(['--cap-drop', 'ALL'])).toBe('0000000000000000');
    expect(await caps(['--cap-drop', 'ALL', '--cap-add', 'NET_BIND_SERVICE'])).toBe('0000000000000400');
    expect(await caps(['--cap-drop', 'chown'])).toBe('00000000a80425fa');
  });

  it('--rm mounts the writable layer volatile (no syncfs of the host file system at exit); a kept container does not', async () => {
    const rootOpts = (out: string): string => out.split('\n').find((l) => l.split(' ')[1] === '/') ?? '';
    const rmRun = await run(['demo', 'cat', '/proc/mounts']);
    expect(rmRun.exitCode, rmRun.stderr).toBe(0);
    expect(rootOpts(rmRun.stdout)).toMatch(/^overlay \/ overlay .*(volatile)/);
    const kept = await tvctl(roots, ['run', '--network', 'none', 'demo', 'cat', '/proc/mounts']);
    try {
      expect(kept.exitCode, kept.stderr).toBe(0);
      expect(rootOpts(kept.stdout)).toMatch(/^overlay \/ overlay /);
      expect(rootOpts(kept.stdout)).not.toMatch(/volatile/);
    } finally {
      const ids = await tvctl(roots, ['ps', '-aq', '--no-trunc']);
      for (const id of ids.stdout.split('\n').filter(Boolean)) await tvctl(roots, ['rm', '-f', id]);
    }
  });
});
