/**
 * The isolation properties of tvinit, asserted through the real CLI (`tvctl run` / `exec`) with private
 * TVCTL_ROOT/TVCTL_DATA roots and the busybox demo image.
 */
import { execa } from 'execa';
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  readdirSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MASKED_PATHS } from '../../src/namespaces/defaults.js';
import { tvinitPath } from '../../src/namespaces/launch.js';
import {
  CONTAINER_DEV_ENTRIES,
  TVCTL,
  importDemo,
  isRoot,
  makeRoots,
  notRoot,
  tvctl,
  type TestRoots,
} from '../helpers/cli.js';
import { withReason } from '../helpers/prereq.js';
import { buildEscapeProbe, parseProbe } from '../helpers/escape-probe.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const NET = ['--network', 'none'];

describe.skipIf(!isRoot)(withReason('tvctl run isolation (root, real CLI)', notRoot), () => {
  let roots: TestRoots;
  let probeDir = '';
  let secret = '';
  const detached: string[] = [];

  beforeAll(async () => {
    roots = await makeRoots();
    await importDemo(roots);
    probeDir = mkdtempSync(join(tmpdir(), 'tvctl-probe-'));
    buildEscapeProbe(join(probeDir, 'bin'));
    secret = join(probeDir, 'host-secret');
    writeFileSync(secret, 'host secret\n');
  });
  afterEach(async () => {
    for (const id of detached.splice(0)) await tvctl(roots, ['rm', '-f', id]);
  });
  afterAll(async () => {
    await roots?.cleanup();
    if (probeDir) rmSync(probeDir, { recursive: true, force: true });
  });

  interface Out {
    exitCode: number;
    stdout: string;
    stderr: string;
  }
  const cli = async (args: string[], opts: { input?: string } = {}): Promise<Out> => {
    const r = await tvctl(roots, args, opts);
    return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
  };
  const run = (args: string[], opts: { input?: string } = {}): Promise<Out> =>
    cli(['run', '--rm', ...NET, ...args], opts);

  it('PID 1 is the command, ps shows only the container, hostname is the short id (or -h)', async () => {
    const r = await run(['demo', 'sh', '-c', 'ps -o pid,args; hostname']);
    expect(r.exitCode, r.stderr).toBe(0);
    const rows = r.stdout.split('\n').filter((l) => /^\s*\d+\s/.test(l));
    expect(rows[0]).toMatch(/^\s*1 sh -c ps -o pid,args; hostname$/);
    expect(rows.length).toBeLessThanOrEqual(3);
    expect(r.stdout.trim().split('\n').pop()).toMatch(/^[0-9a-f]{12}$/);
    const h = await run(['-h', 'web1', 'demo', 'hostname']);
    expect(h.stdout.trim()).toBe('web1');
  });

  it('capabilities, no_new_privs and seccomp as Docker; -u 1000 has none; --cap-drop ALL has none', async () => {
    const r = await run(['demo', 'cat', '/proc/self/status']);
    expect(r.stdout).toMatch(/^CapEff:\s+00000000a80425fb$/m);
    expect(r.stdout).toMatch(/^CapBnd:\s+00000000a80425fb$/m);
    expect(r.stdout).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(r.stdout).toMatch(/^Seccomp:\s+2$/m);
    const u = await run(['-u', '1000', 'demo', 'sh', '-c', 'id -u; grep CapEff /proc/self/status']);
    expect(u.stdout).toMatch(/^1000\nCapEff:\s+0000000000000000$/m);
    const d = await run(['--cap-drop', 'ALL', 'demo', 'grep', 'CapBnd', '/proc/self/status']);
    expect(d.stdout).toMatch(/^CapBnd:\s+0000000000000000$/m);
    const a = await run(['--cap-add', 'NET_ADMIN', 'demo', 'grep', 'CapEff', '/proc/self/status']);
    expect(a.stdout).toMatch(/^CapEff:\s+00000000a80435fb$/m);
  });

  it('host files are unreachable (incl. the chroot escape); mount, unshare, pivot_root fail with EPERM', async () => {
    const r = await run(['-v', `${join(probeDir, 'bin')}:/probe:ro`, '-w', '/tmp', 'demo', '/probe/esc', secret]);
    expect(r.exitCode, r.stderr).toBe(0);
    const kv = parseProbe(r.stdout);
    expect(kv['chroot']).toBe('OK');
    expect(kv['escape_open']).toBe('No such file or directory');
    expect(kv['mount']).toBe('Operation not permitted');
    expect(kv['unshare_user']).toBe('Operation not permitted');
    expect(kv['unshare_mnt']).toBe('Operation not permitted');
    expect(kv['pivot_root']).toBe('Operation not permitted');
    const sh = await run([
      'demo',
      'sh',
      '-c',
      `cat ${secret}; cat /../../..${secret}; mount -t tmpfs none /mnt; echo "mount=$?"; unshare -m true; echo "unshare=$?"`,
    ]);
    expect(sh.stdout).not.toContain('host secret');
    expect(sh.stdout).toMatch(/^mount=[1-9]/m);
    expect(sh.stdout).toMatch(/^unshare=[1-9]/m);
    expect(sh.stderr).toContain('Operation not permitted');
  });

  it('/dev holds exactly the standard nodes; masked paths are empty; /proc/sys is read-only', async () => {
    const present = DEFAULT_MASKED_PATHS.filter((p) => existsSync(p));
    const masks = present
      .map((p) =>
        statSync(p).isDirectory() ? `echo "${p}=[$(ls -A ${p} | wc -l)]"` : `echo "${p}=[$(cat ${p} | wc -c)]"`,
      )
      .join('; ');
    const r = await run([
      'demo',
      'sh',
      '-c',
      `ls -A /dev; echo ---; ${masks}; echo 1 > /proc/sys/kernel/domainname; echo "sysw=$?"`,
    ]);
    const [devs = '', rest = ''] = r.stdout.split('---\n');
    expect(devs.trim().split('\n').sort()).toEqual([...CONTAINER_DEV_ENTRIES].sort());
    for (const p of present) expect(rest).toContain(`${p}=[0]`);
    expect(rest).toMatch(/^sysw=[1-9]/m);
    expect(r.stderr).toContain('Read-only file system');
  });

  it('device nodes made with CAP_MKNOD cannot be opened (host disk, /dev/mem): the devices cgroup denies them', async () => {
    const disk = readdirSync('/sys/block').find((b) => !/^(loop|ram|zram)/.test(b)) ?? readdirSync('/sys/block')[0];
    const [maj = '8', min = '0'] = (disk ? readFileSync(`/sys/block/${disk}/dev`, 'utf8').trim() : '8:0').split(':');
    const r = await run([
      'demo',
      'sh',
      '-c',
      `mknod /tmp/disk b ${maj} ${min}; echo "mknod=$?"; head -c 16 /tmp/disk | wc -c; mknod /tmp/mem c 1 1; head -c 1 /tmp/mem | wc -c`,
    ]);
    expect(r.stdout).toMatch(/^mknod=0$/m); // Docker keeps CAP_MKNOD...
    expect(r.stdout).toMatch(/^0\n0$/m); // ...and nothing could be read
    expect(r.stderr).toContain('head: /tmp/disk: Operation not permitted');
    expect(r.stderr).toContain('head: /tmp/mem: Operation not permitted');
  });

  it('the write layer is private to each container', async () => {
    const a = await run(['demo', 'sh', '-c', 'echo mine > /etc/newfile; cat /etc/newfile']);
    expect(a.stdout).toBe('mine');
    const b = await run(['demo', 'sh', '-c', 'cat /etc/newfile']);
    expect(b.exitCode).toBe(1);
    expect(b.stderr).toContain('No such file or directory');
  });

  it('exit codes: 0, 3, 127, 126 and 128+N', async () => {
    expect((await run(['demo', 'true'])).exitCode).toBe(0);
    expect((await run(['demo', 'sh', '-c', 'exit 3'])).exitCode).toBe(3);
    const nf = await run(['demo', 'nosuchcmd']);
    expect(nf.exitCode).toBe(127);
    expect(nf.stderr.trim()).toBe('tvctl: exec: "nosuchcmd": executable file not found in $PATH');
    expect((await run(['demo', '/etc/passwd'])).exitCode).toBe(126);
    expect((await run(['--init', 'demo', 'sh', '-c', 'kill -9 $$'])).exitCode).toBe(137);
    expect((await run(['--init', 'demo', 'sh', '-c', 'kill -TERM $$'])).exitCode).toBe(143);
  });

  it('-t gives the container a terminal', async () => {
    const r = await execa(
      'script',
      ['-qec', `${TVCTL} run --rm -it ${NET.join(' ')} demo sh -c 'tty; read l; echo "got:$l"; exit 4'`, '/dev/null'],
      {
        env: roots.env,
        input: 'hi\n',
        reject: false,
        timeout: 60_000,
      },
    );
    expect(r.stdout).toContain('/dev/pts/0');
    expect(r.stdout).toContain('got:hi');
    expect(r.exitCode).toBe(4);
  });

  it('detached: logs are captured and the exit code recorded', async () => {
    const d = await cli(['run', '-d', ...NET, 'demo', 'sh', '-c', 'echo out; echo err >&2; exit 5']);
    expect(d.exitCode, d.stderr).toBe(0);
    const id = d.stdout.trim();
    detached.push(id);
    const w = await cli(['wait', id]);
    expect(w.stdout.trim()).toBe('5');
    const logs = await cli(['logs', id]);
    expect(logs.stdout).toContain('out');
    expect(logs.stderr).toContain('err');
  });

  it('CVE-2019-5736: no container process can open /proc/N/exe for writing; none is a host tvinit/nsenter binary', async () => {
    const d = await cli([
      'run',
      '-d',
      '--init',
      ...NET,
      '-v',
      `${join(probeDir, 'bin')}:/probe:ro`,
      'demo',
      'sleep',
      '60',
    ]);
    expect(d.exitCode, d.stderr).toBe(0);
    const id = d.stdout.trim();
    detached.push(id);
    // A long-running exec alongside: its nsenter/tvinit chain must not expose a host binary either.
    const bg = execa(TVCTL, ['exec', id, 'sleep', '30'], { env: roots.env, reject: false });
    await sleep(1000);
    const probe = await cli(['exec', '-w', '/tmp', id, '/probe/esc']);
    expect(probe.exitCode, probe.stderr).toBe(0);
    const kv = parseProbe(probe.stdout);
    expect(Number(kv['exe_seen'])).toBeGreaterThanOrEqual(3); // tvinit (PID 1), sleep 60, sleep 30, the probe
    expect(kv['exe_writable']).toBe('0');
    expect(kv['proc1_exe_w']).toBe('Permission denied');
    // From the host: every process in the container's pid namespace runs a sealed memfd or a container binary.
    const inspect = JSON.parse((await cli(['inspect', id])).stdout)[0];
    const initPid: number = inspect.State.Pid;
    const pidns = readlinkSync(`/proc/${initPid}/ns/pid`);
    const hostBins = new Set(
      [tvinitPath(), '/usr/bin/nsenter', '/usr/bin/unshare', '/bin/nsenter', '/bin/unshare']
        .filter((p) => existsSync(p))
        .map((p) => realpathSync(p)),
    );
    const exes: string[] = [];
    const inNs = new Set<string>();
    const parents = new Set<string>();
    for (const p of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
      try {
        if (readlinkSync(`/proc/${p}/ns/pid`) !== pidns) continue;
        inNs.add(p);
        exes.push(readlinkSync(`/proc/${p}/exe`));
        parents.add(/^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? '');
      } catch {
        /* exited meanwhile */
      }
    }
    expect(exes.length).toBeGreaterThanOrEqual(3);
    for (const e of exes) expect(hostBins.has(e.replace(/ \(deleted\)$/, '')), e).toBe(false);
    expect(exes.some((e) => e.startsWith('/memfd:tvinit'))).toBe(true);
    // The host-side parents that entered the namespaces (tvinit's ns parent, nsenter for the exec) run
    // from sealed memfds too: a ptrace-capable container process could otherwise reach them.
    const outside = [...parents].filter((p) => p && !inNs.has(p)).map((p) => readlinkSync(`/proc/${p}/exe`));
    expect(outside.length).toBeGreaterThanOrEqual(2);
    for (const e of outside) expect(e, e).toMatch(/^\/memfd:/);
    await tvctl(roots, ['rm', '-f', id]);
    await bg;
  });

  it('leaves no mounts behind on the host', async () => {
    const before = new Set(readFileSync('/proc/self/mountinfo', 'utf8').split('\n'));
    const r = await run(['-v', `${probeDir}:/vol`, 'demo', 'true']);
    expect(r.exitCode, r.stderr).toBe(0);
    // Other tests may mount things concurrently: look only for mounts that mention our roots or volume.
    const added = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .filter((l) => !before.has(l) && (l.includes(roots.data) || l.includes(roots.state) || l.includes(probeDir)));
    expect(added).toEqual([]);
  });
});
