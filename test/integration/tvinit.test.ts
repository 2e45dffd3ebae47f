/**
 * tvinit driven for real (root): confs built by src/namespaces, started through launchShim, on the busybox demo
 * rootfs as the single lowerdir with temp upper/work dirs. Asserts the isolation properties the runtime relies on.
 */
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  rmdirSync,
  statSync,
  writeFileSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_MASKED_PATHS,
  DEFAULT_READONLY_PATHS,
  DOCKER_DEFAULT_CAP_MASK,
  buildNsenterExecArgv,
  buildUnshareArgv,
  execConf,
  initConf,
  launchShim,
  shimConf,
  tvinitPath,
  writeConfFile,
  type InitSpec,
  type ProcessSpec,
  type ShimSpec,
} from '../../src/namespaces/index.js';
import { packageRoot } from '../../src/paths.js';
import { TvctlError } from '../../src/errors.js';
import { buildEscapeProbe, parseProbe } from '../helpers/escape-probe.js';
import { CONTAINER_DEV_ENTRIES, isRoot, notRoot } from '../helpers/cli.js';
import { withReason } from '../helpers/prereq.js';
import { SHIM_SYNC_FD } from '../../src/namespaces/fds.js';

const SEAL_FD = 5;
const CONF_FD = 6;
const PATH_ENV = 'PATH=/usr/sbin:/usr/bin:/sbin:/bin';

interface Started {
  dir: string;
  stateDir: string;
  upper: string;
}

interface RunResult extends Started {
  code: number;
  stdout: string;
  stderr: string;
  initPid?: number;
  error?: TvctlError;
}

let base = '';
let lower = '';
let escBin = '';
const shims: number[] = [];
const containerDirs: string[] = [];

const parseKv = parseProbe;

async function prepare(
  args: string[],
  o: { process?: Partial<ProcessSpec>; init?: Partial<InitSpec>; shim?: Partial<ShimSpec> } = {},
): Promise<Started & { shimConfPath: string }> {
  const dir = mkdtempSync(join(base, 'c-'));
  containerDirs.push(dir);
  const [upper, work, rootfs, stateDir] = ['upper', 'work', 'rootfs', 'state'].map((d) => join(dir, d)) as [
    string,
    string,
    string,
    string,
  ];
  for (const d of [upper, work, rootfs, stateDir]) mkdirSync(d);
  const initPath = join(dir, 'init.conf');
  await writeConfFile(
    initPath,
    initConf({
      process: {
        args,
        env: [PATH_ENV],
        caps: DOCKER_DEFAULT_CAP_MASK,
        noNewPrivileges: true,
        seccomp: 'default',
        tty: false,
        ...o.process,
      },
      rootfs,
      lowerDirs: [lower],
      upperDir: upper,
      workDir: work,
      hostname: 'tvtest',
      maskedPaths: [...DEFAULT_MASKED_PATHS],
      readonlyPaths: [...DEFAULT_READONLY_PATHS],
      ...o.init,
    }),
  );
  const shimConfPath = join(dir, 'shim.conf');
  await writeConfFile(
    shimConfPath,
    shimConf({
      argv: buildUnshareArgv({ tvinit: `/proc/self/fd/${SEAL_FD}`, initConf: initPath }),
      cgroupProcs: [],
      stateDir,
      syncFd: SHIM_SYNC_FD,
      tty: false,
      stdin: false,
      sealFd: SEAL_FD,
      ...o.shim,
    }),
  );
  return { dir, stateDir, upper, shimConfPath };
}

async function run(
  args: string[],
  o: { process?: Partial<ProcessSpec>; init?: Partial<InitSpec>; shim?: Partial<ShimSpec> } = {},
): Promise<RunResult> {
  const p = await prepare(args, o);
  const shim = launchShim({ shimConfPath: p.shimConfPath, stdio: 'pipe', detached: false });
  shims.push(shim.shimPid);
  let initPid: number | undefined;
  let error: TvctlError | undefined;
  try {
    initPid = (await shim.ready).initPid;
  } catch (e) {
    if (!(e instanceof TvctlError)) throw e;
    error = e;
  }
  const code = await shim.exited;
  const { stdout, stderr } = await shim.output!;
  return { ...p, code, stdout, stderr, ...(initPid !== undefined ? { initPid } : {}), ...(error ? { error } : {}) };
}

function readExit(stateDir: string): {
  exitCode: number;
  signal: number | null;
  oomKilled: boolean;
  startedAt: string;
  finishedAt: string;
  restartCount: number;
} {
  return JSON.parse(readFileSync(join(stateDir, 'exit'), 'utf8'));
}

describe.skipIf(!isRoot)(withReason('tvinit (real namespaces, overlay, pivot_root)', notRoot), () => {
  beforeAll(() => {
    const root = packageRoot();
    execFileSync('make', ['-s', '-C', join(root, 'native')], { stdio: 'inherit' });
    const tar = join(root, 'build', 'demo-rootfs.tar');
    execFileSync('bash', [join(root, 'scripts', 'make-demo-rootfs.sh'), tar], { stdio: 'inherit' });
    base = mkdtempSync(join(tmpdir(), 'tvinit-it-'));
    lower = join(base, 'lower');
    mkdirSync(lower);
    execFileSync('tar', ['-xf', tar, '-C', lower]);
    escBin = buildEscapeProbe(join(base, 'bin'));
    writeFileSync(join(base, 'host-secret'), 'host secret\n');
  });

  afterEach(() => {
    for (const pid of shims.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL'); // the whole container dies with its shim (PDEATHSIG chain)
      } catch {
        /* already gone */
      }
    }
    for (const d of containerDirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  afterAll(() => {
    if (base) rmSync(base, { recursive: true, force: true });
  });

  it('runs the command as PID 1; ps shows only container processes; hostname is set', async () => {
    const r = await run([
      'sh',
      '-c',
      'ps -o pid,args; echo "host=$(hostname)"; cat /proc/1/cmdline | tr "\\0" " "; echo',
    ]);
    expect(r.error).toBeUndefined();
    expect(r.code).toBe(0);
    const rows = r.stdout.split('\n').filter((l) => /^\s*\d+\s/.test(l));
    const pids = rows.map((l) => Number(l.trim().split(/\s+/)[0]));
    expect(pids[0]).toBe(1);
    expect(rows[0]).toContain('sh -c ps -o pid,args');
    expect(rows.length).toBeLessThanOrEqual(3); // sh, ps (and maybe the subshell)
    expect(Math.max(...pids)).toBeLessThan(10);
    expect(r.stdout).toContain('host=tvtest');
    expect(r.stdout).toContain('sh -c ps -o pid,args');
    expect(r.initPid).toBeGreaterThan(1);
    expect(readFileSync(join(r.stateDir, 'pid'), 'utf8').trim()).toBe(String(r.initPid));
    expect(Number(readFileSync(join(r.stateDir, 'shim.pid'), 'utf8'))).toBeGreaterThan(1);
  });

  it('reports the process status the kernel shows: CapEff a80425fb, NoNewPrivs 1, Seccomp 2', async () => {
    const r = await run(['cat', '/proc/self/status']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^CapEff:\s+00000000a80425fb$/m);
    expect(r.stdout).toMatch(/^CapPrm:\s+00000000a80425fb$/m);
    expect(r.stdout).toMatch(/^CapBnd:\s+00000000a80425fb$/m);
    expect(r.stdout).toMatch(/^CapInh:\s+0000000000000000$/m);
    expect(r.stdout).toMatch(/^CapAmb:\s+0000000000000000$/m);
    expect(r.stdout).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(r.stdout).toMatch(/^Seccomp:\s+2$/m);
  });

  it('-u 1000 runs without capabilities; -u daemon resolves from the image /etc/passwd', async () => {
    const r = await run(['sh', '-c', 'id -u; id -g; grep -E "^Cap(Eff|Prm)" /proc/self/status; echo "home=$HOME"'], {
      process: { user: '1000' },
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^1000\n0\n/);
    expect(r.stdout).toMatch(/^CapEff:\s+0000000000000000$/m);
    expect(r.stdout).toMatch(/^CapPrm:\s+0000000000000000$/m);
    expect(r.stdout).toContain('home=/\n');
    const d = await run(['sh', '-c', 'id; echo "home=$HOME"'], { process: { user: 'daemon' } });
    expect(d.stdout).toContain('uid=1(daemon) gid=1(daemon)');
    expect(d.stdout).toContain('home=/usr/sbin');
    const bad = await run(['id'], { process: { user: 'nosuchuser' } });
    expect(bad.code).toBe(125);
    expect(bad.error?.message).toBe('unable to find user nosuchuser: no matching entries in passwd file');
  });

  it('host files are unreachable, even through the chroot escape; mount/unshare/pivot_root fail with EPERM', async () => {
    const secret = join(base, 'host-secret');
    const r = await run(['/esc/esc', secret], {
      init: { mounts: [{ source: join(base, 'bin'), destination: '/esc', readonly: true }] },
      process: { cwd: '/tmp' },
    });
    expect(r.stderr).toBe('');
    const kv = parseKv(r.stdout);
    expect(Number(kv['exe_seen'])).toBeGreaterThan(0);
    expect(kv['exe_writable']).toBe('0');
    expect(kv['chroot']).toBe('OK'); // CAP_SYS_CHROOT is in Docker's default set...
    expect(kv['escape_open']).toBe('No such file or directory'); // ...but above the pivoted root there is nothing
    expect(kv['escape_content']).toBeUndefined();
    expect(kv['mount']).toBe('Operation not permitted');
    expect(kv['unshare_user']).toBe('Operation not permitted');
    expect(kv['unshare_mnt']).toBe('Operation not permitted');
    expect(kv['pivot_root']).toBe('Operation not permitted');
    const sh = await run([
      'sh',
      '-c',
      `cat ${secret}; cat /../../..${secret}; ls /proc/1/root/..; mount -t tmpfs none /mnt; echo "mount=$?"; unshare -m true; echo "unshare=$?"; unshare -U true; echo "unshare_u=$?"`,
    ]);
    expect(sh.stdout).not.toContain('host secret');
    expect(sh.stderr).toContain('No such file or directory');
    expect(sh.stdout).toMatch(/^mount=[1-9]/m);
    expect(sh.stderr).toMatch(/mount: permission denied|Operation not permitted/);
    expect(sh.stdout).toMatch(/^unshare=[1-9]/m);
    expect(sh.stdout).toMatch(/^unshare_u=[1-9]/m);
    expect(sh.stderr).toMatch(/unshare\(0x20000\): Operation not permitted/);
    expect(sh.stderr).toMatch(/unshare\(0x10000000\): Operation not permitted/);
  });

  it('negative control: the same escape does get out of a plain chroot (so the test above can fail)', async () => {
    const jail = join(base, 'jail');
    mkdirSync(join(jail, 'tmp'), { recursive: true });
    execFileSync('cp', [escBin, join(jail, 'esc')]);
    const secret = join(base, 'host-secret');
    // A private mount ns so the escape's tmpfs mount attempt cannot touch the host.
    const { stdout } = await execa(
      'unshare',
      ['--mount', '--propagation', 'private', '--', 'chroot', jail, '/esc', secret],
      { cwd: jail },
    );
    rmSync(jail, { recursive: true, force: true });
    expect(parseKv(stdout)['escape_open']).toBe('OK');
  });

  it('/dev holds exactly the standard nodes; /dev/pts, shm, mqueue mounted', async () => {
    const r = await run([
      'sh',
      '-c',
      'ls -A /dev; echo ---; ls -l /dev/null /dev/ptmx /dev/fd; echo ---; grep -E " /dev(/pts|/shm|/mqueue)? " /proc/mounts',
    ]);
    const [names = '', details = '', mounts = ''] = r.stdout.split('---\n');
    expect(names.trim().split('\n').sort()).toEqual([...CONTAINER_DEV_ENTRIES].sort());
    expect(details).toMatch(/crw-rw-rw-\s+1 root\s+root\s+1,\s+3 .* \/dev\/null/);
    expect(details).toContain('/dev/ptmx -> pts/ptmx');
    expect(details).toContain('/dev/fd -> /proc/self/fd');
    expect(mounts).toMatch(/^tmpfs \/dev tmpfs rw,nosuid/m);
    expect(mounts).toMatch(/^devpts \/dev\/pts devpts rw,nosuid,noexec/m);
    expect(mounts).toMatch(/^shm \/dev\/shm tmpfs rw,nosuid,nodev,noexec/m);
    expect(mounts).toMatch(/^mqueue \/dev\/mqueue mqueue rw,nosuid,nodev,noexec/m);
  });

  it('masked paths are empty, /proc/sys and friends are read-only, /sys is read-only', async () => {
    const present = DEFAULT_MASKED_PATHS.filter((p) => existsSync(p));
    expect(present.length).toBeGreaterThan(0);
    const script = present
      .map((p) =>
        statSync(p).isDirectory() ? `echo "${p}=[$(ls -A ${p} | wc -l)]"` : `echo "${p}=[$(cat ${p} | wc -c)]"`,
      )
      .join('; ');
    const r = await run([
      'sh',
      '-c',
      `${script}; echo 1 > /proc/sys/kernel/domainname; echo "sysw=$?"; touch /sys/x; echo "sys=$?"; grep -E " /proc/(sys|bus|fs|irq|sysrq-trigger) " /proc/mounts`,
    ]);
    for (const p of present) expect(r.stdout).toContain(`${p}=[0]`);
    expect(r.stdout).toMatch(/^sysw=[1-9]/m);
    expect(r.stdout).toMatch(/^sys=[1-9]/m);
    expect(r.stderr).toContain('Read-only file system');
    expect(r.stdout).toMatch(/^proc \/proc\/sys proc ro,nosuid,nodev,noexec/m);
    if (existsSync('/proc/sysrq-trigger'))
      expect(r.stdout).toMatch(/^proc \/proc\/sysrq-trigger proc ro,nosuid,nodev,noexec/m);
  });

  it('the write layer is private: writes land in upper only; another container on the same lower sees nothing', async () => {
    const a = await run(['sh', '-c', 'echo written > /etc/newfile; rm /etc/hostname; echo ok']);
    expect(a.stdout).toBe('ok\n');
    expect(readFileSync(join(a.upper, 'etc', 'newfile'), 'utf8')).toBe('written\n');
    expect(existsSync(join(lower, 'etc', 'newfile'))).toBe(false);
    expect(existsSync(join(lower, 'etc', 'hostname'))).toBe(true);
    const b = await run(['sh', '-c', 'cat /etc/newfile; cat /etc/hostname']);
    expect(b.stdout).toBe('demo\n');
    expect(b.stderr).toContain("can't open '/etc/newfile'");
  });

  it('exit codes: 0, 3, 127 not found, 126 not executable, 137 when SIGKILLed', async () => {
    expect((await run(['true'])).code).toBe(0);
    const three = await run(['sh', '-c', 'exit 3']);
    expect(three.code).toBe(3);
    expect(readExit(three.stateDir)).toMatchObject({ exitCode: 3, signal: null, oomKilled: false, restartCount: 0 });
    const nf = await run(['nosuchcmd']);
    expect(nf.code).toBe(127);
    expect(nf.error?.exitCode).toBe(127);
    expect(nf.error?.message).toBe('exec: "nosuchcmd": executable file not found in $PATH');
    const nx = await run(['/etc/passwd']);
    expect(nx.code).toBe(126);
    expect(nx.error?.message).toBe('exec: "/etc/passwd": Permission denied');
    const dir = await run(['/etc']);
    expect(dir.code).toBe(126);
    // PID 1 cannot be SIGKILLed from inside its namespace; from the host it can.
    const p = await prepare(['sleep', '60']);
    const shim = launchShim({ shimConfPath: p.shimConfPath, stdio: 'pipe', detached: false });
    shims.push(shim.shimPid);
    const { initPid } = await shim.ready;
    process.kill(initPid, 'SIGKILL');
    expect(await shim.exited).toBe(137);
    expect(readExit(p.stateDir)).toMatchObject({ exitCode: 137, signal: 9 });
    // With init=1 the user's process is PID 2 and may be killed from inside.
    const k = await run(['sh', '-c', 'kill -TERM $$'], { process: { init: true } });
    expect(k.code).toBe(143);
  });

  it('init=1: PID 1 is the sealed tvinit, it reaps and forwards; /proc/1/exe cannot be opened for writing', async () => {
    const r = await run(['/esc/esc', '/nonexistent'], {
      init: { mounts: [{ source: join(base, 'bin'), destination: '/esc', readonly: true }] },
      process: { init: true, cwd: '/tmp' },
    });
    const kv = parseKv(r.stdout);
    expect(kv['proc1_exe_w']).toBe('Permission denied');
    expect(kv['proc1_exe_r']).toBe('Permission denied');
    const ps = await run(['sh', '-c', 'ps -o pid,args; readlink /proc/1/exe; echo "rl=$?"'], {
      process: { init: true },
    });
    expect(ps.stdout).toMatch(/^\s*1 tvinit init\s*$/m);
    expect(ps.stdout).not.toContain(base); // no host path in PID 1's command line
    expect(ps.stdout).toMatch(/^\s*2 sh -c ps/m);
    expect(ps.stdout).toMatch(/^rl=1$/m);
    // The sealed copy is what runs: the host binary's inode is not PID 1's exe (seen from the host).
    const p = await prepare(['sleep', '60'], { process: { init: true } });
    const shim = launchShim({ shimConfPath: p.shimConfPath, stdio: 'pipe', detached: false });
    shims.push(shim.shimPid);
    const { initPid } = await shim.ready;
    const exe = execFileSync('readlink', [`/proc/${initPid}/exe`]).toString();
    expect(exe).toMatch(/^\/memfd:tvinit \(deleted\)/);
    process.kill(initPid, 'SIGTERM'); // forwarded to sleep, which dies of it
    expect(await shim.exited).toBe(143);
  });

  it('bind mounts: ro is read-only; a symlink in the image cannot redirect a mount target to the host', async () => {
    const hostDir = join(base, 'vol');
    const outside = join(base, 'outside');
    mkdirSync(hostDir);
    mkdirSync(outside);
    writeFileSync(join(hostDir, 'f'), 'vol\n');
    const evil = join(base, 'evil-layer');
    mkdirSync(evil, { recursive: true });
    symlinkSync(`/../../../..${outside}`, join(evil, 'evil'));
    const r = await run(['sh', '-c', 'cat /vol/f; echo x > /vol/g; echo "w=$?"; ls /evil/; readlink /evil'], {
      init: {
        mounts: [
          { source: hostDir, destination: '/vol', readonly: true },
          { source: hostDir, destination: '/evil/target', readonly: false },
        ],
        lowerDirs: [evil, lower],
      },
    });
    expect(r.error).toBeUndefined();
    expect(r.stdout).toContain('vol\n');
    expect(r.stdout).toContain(`target\n/../../../..${outside}\n`); // the mount landed inside the container
    expect(existsSync(join(r.upper, outside, 'target'))).toBe(true); // ...created in its write layer
    expect(r.stdout).toMatch(/^w=[1-9]/m);
    expect(r.stderr).toContain('Read-only file system');
    expect(readdirSync(outside)).toEqual([]); // nothing was created or mounted on the host side
    expect(existsSync(join(hostDir, 'g'))).toBe(false);
    rmSync(evil, { recursive: true, force: true });
  });

  it('readonly=1 makes the root read-only (tmpfs mounts stay writable)', async () => {
    const r = await run(['sh', '-c', 'touch /x; echo "root=$?"; touch /dev/shm/x; echo "shm=$?"'], {
      init: { readonly: true },
    });
    expect(r.stdout).toMatch(/^root=1$/m);
    expect(r.stdout).toMatch(/^shm=0$/m);
  });

  it('tty mode: the container gets a pty as its controlling terminal; input and window size are proxied', async () => {
    const p = await prepare(['sh', '-c', 'tty; stty size; read line; echo "got:$line"; exit 5'], {
      process: { tty: true },
    });
    await writeConfFile(
      p.shimConfPath,
      shimConf({
        argv: buildUnshareArgv({ tvinit: `/proc/self/fd/${SEAL_FD}`, initConf: join(p.dir, 'init.conf') }),
        cgroupProcs: [],
        stateDir: p.stateDir,
        tty: true,
        stdin: true,
        sealFd: SEAL_FD,
      }),
    );
    const r = await execa(
      'script',
      ['-qec', `stty rows 33 cols 101; ${tvinitPath()} shim ${p.shimConfPath}`, '/dev/null'],
      {
        input: 'hello\n',
        reject: false,
        timeout: 30_000,
      },
    );
    const why = `stdout: ${JSON.stringify(r.stdout)} stderr: ${JSON.stringify(r.stderr)}`;
    expect(r.stdout, why).toContain('/dev/pts/0');
    expect(r.stdout, why).toContain('33 101');
    expect(r.stdout, why).toContain('got:hello');
    expect(r.exitCode, why).toBe(5);
    expect(readExit(p.stateDir).exitCode).toBe(5);
  });

  it('detached mode writes CRI log lines and the exit file', async () => {
    const q = await prepare(['sh', '-c', 'echo out1; echo err1 >&2; printf tail; exit 4']);
    const log = join(q.dir, 'ctr.log');
    await writeConfFile(
      q.shimConfPath,
      shimConf({
        argv: buildUnshareArgv({ tvinit: `/proc/self/fd/${SEAL_FD}`, initConf: join(q.dir, 'init.conf') }),
        cgroupProcs: [],
        stateDir: q.stateDir,
        syncFd: SHIM_SYNC_FD,
        logFile: log,
        tty: false,
        stdin: false,
        sealFd: SEAL_FD,
      }),
    );
    const shim = launchShim({ shimConfPath: q.shimConfPath, stdio: 'ignore', detached: true });
    shims.push(shim.shimPid);
    await shim.ready;
    expect(await shim.exited).toBe(4);
    const lines = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    const ts = String.raw`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z`;
    expect(lines).toHaveLength(3);
    expect(lines.find((l) => l.includes('out1'))).toMatch(new RegExp(`^${ts} stdout F out1$`));
    expect(lines.find((l) => l.includes('err1'))).toMatch(new RegExp(`^${ts} stderr F err1$`));
    expect(lines.find((l) => l.includes('tail'))).toMatch(new RegExp(`^${ts} stdout P tail$`));
    const exit = readExit(q.stateDir);
    expect(exit).toMatchObject({ exitCode: 4, signal: null, oomKilled: false, restartCount: 0 });
    expect(Date.parse(exit.finishedAt)).toBeGreaterThanOrEqual(Date.parse(exit.startedAt));
  });

  it('restart=on-failure:2 restarts twice with backoff, then records the final exit', async () => {
    const q = await prepare(['sh', '-c', 'echo run; exit 9']);
    const log = join(q.dir, 'ctr.log');
    await writeConfFile(
      q.shimConfPath,
      shimConf({
        argv: buildUnshareArgv({ tvinit: `/proc/self/fd/${SEAL_FD}`, initConf: join(q.dir, 'init.conf') }),
        cgroupProcs: [],
        stateDir: q.stateDir,
        syncFd: SHIM_SYNC_FD,
        logFile: log,
        tty: false,
        stdin: false,
        sealFd: SEAL_FD,
        restart: { name: 'on-failure', maxRetries: 2 },
      }),
    );
    const shim = launchShim({ shimConfPath: q.shimConfPath, stdio: 'ignore', detached: true });
    shims.push(shim.shimPid);
    await shim.ready;
    expect(await shim.exited).toBe(9);
    expect(readExit(q.stateDir)).toMatchObject({ exitCode: 9, restartCount: 2 });
    expect(readFileSync(join(q.stateDir, 'restarts'), 'utf8').trim()).toBe('2');
    expect(readFileSync(log, 'utf8').match(/stdout F run/g)).toHaveLength(3);
  });

  it('restart=always keeps restarting until STATE/stopped exists', async () => {
    const q = await prepare(['sh', '-c', 'exit 0']);
    await writeConfFile(
      q.shimConfPath,
      shimConf({
        argv: buildUnshareArgv({ tvinit: `/proc/self/fd/${SEAL_FD}`, initConf: join(q.dir, 'init.conf') }),
        cgroupProcs: [],
        stateDir: q.stateDir,
        syncFd: SHIM_SYNC_FD,
        logFile: join(q.dir, 'ctr.log'),
        tty: false,
        stdin: false,
        sealFd: SEAL_FD,
        restart: { name: 'always' },
      }),
    );
    const shim = launchShim({ shimConfPath: q.shimConfPath, stdio: 'ignore', detached: true });
    shims.push(shim.shimPid);
    await shim.ready;
    const restarts = join(q.stateDir, 'restarts');
    for (let i = 0; i < 100 && !(existsSync(restarts) && Number(readFileSync(restarts, 'utf8')) >= 2); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(Number(readFileSync(restarts, 'utf8'))).toBeGreaterThanOrEqual(2);
    expect(existsSync(join(q.stateDir, 'exit'))).toBe(false); // only written at the final stop
    writeFileSync(join(q.stateDir, 'stopped'), '');
    expect(await shim.exited).toBe(0);
    expect(readExit(q.stateDir).restartCount).toBeGreaterThanOrEqual(2);
  });

  it('exec mode: nsenter (from a sealed copy) + tvinit exec applies the same restrictions in a running container', async () => {
    const c = await prepare(['sleep', '60']);
    const main = launchShim({ shimConfPath: c.shimConfPath, stdio: 'pipe', detached: false });
    shims.push(main.shimPid);
    const { initPid } = await main.ready;
    const execDir = join(c.dir, 'exec');
    mkdirSync(execDir);
    const confPath = join(execDir, 'exec.conf');
    await writeConfFile(
      confPath,
      execConf({
        process: {
          args: [
            'sh',
            '-c',
            'ps -o pid,args; id; pwd; hostname; grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status; mount -t tmpfs none /mnt; echo "mount=$?"; exit 6',
          ],
          env: [PATH_ENV],
          user: 'daemon',
          cwd: '/tmp/wd',
          caps: DOCKER_DEFAULT_CAP_MASK,
          noNewPrivileges: true,
          seccomp: 'default',
          tty: false,
        },
      }),
    );
    const shimPath = join(execDir, 'shim.conf');
    // The supervisor conf of `tvctl exec`: nsenter from a sealed copy, the exec conf passed as an fd.
    const execShimConf = (confFile: string): Buffer =>
      shimConf({
        argv: buildNsenterExecArgv({ targetPid: initPid, sealFd: SEAL_FD, confFd: CONF_FD }),
        cgroupProcs: [],
        stateDir: execDir,
        syncFd: SHIM_SYNC_FD,
        tty: false,
        stdin: false,
        sealFd: SEAL_FD,
        confFd: CONF_FD,
        confFile,
        execSealed: true,
      });
    await writeConfFile(shimPath, execShimConf(confPath));
    const ex = launchShim({ shimConfPath: shimPath, stdio: 'pipe', detached: false });
    shims.push(ex.shimPid);
    const { initPid: execPid } = await ex.ready;
    expect(execPid).toBeGreaterThan(1);
    expect(await ex.exited).toBe(6);
    const { stdout } = await ex.output!;
    expect(stdout).toMatch(/^\s*1 sleep 60$/m);
    expect(stdout).toContain('uid=1(daemon) gid=1(daemon)');
    expect(stdout).toContain('/tmp/wd\n');
    expect(stdout).toContain('tvtest\n');
    expect(stdout).toMatch(/^CapEff:\s+0000000000000000$/m);
    expect(stdout).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(stdout).toMatch(/^Seccomp:\s+2$/m);
    expect(stdout).toMatch(/^mount=[1-9]/m);
    expect(readExit(execDir).exitCode).toBe(6);
    const nf = join(execDir, 'nf.conf');
    await writeConfFile(
      nf,
      execConf({
        process: { args: ['nosuch'], env: [PATH_ENV], caps: 0n, noNewPrivileges: true, seccomp: 'default', tty: false },
      }),
    );
    await writeConfFile(shimPath, execShimConf(nf));
    const bad = launchShim({ shimConfPath: shimPath, stdio: 'pipe', detached: false });
    shims.push(bad.shimPid);
    await expect(bad.ready).rejects.toMatchObject({
      exitCode: 127,
      message: 'exec: "nosuch": executable file not found in $PATH',
    });
    expect(await bad.exited).toBe(127);
    process.kill(initPid, 'SIGKILL');
    expect(await main.exited).toBe(137);
  });

  it('setup failures are one line with exit 125 and leave no mount on the host', async () => {
    const before = readFileSync('/proc/self/mountinfo', 'utf8');
    const r = await run(['true'], { init: { lowerDirs: [join(base, 'no-such-layer')] } });
    expect(r.code).toBe(125);
    expect(r.error?.code).toBe('CONTAINER_START_FAILED');
    expect(r.error?.message).toMatch(/^cannot mount the overlay root file system on \S+: No such file or directory$/);
    expect(readFileSync(join(r.stateDir, 'exit'), 'utf8')).toContain('"exitCode":125');
    const after = readFileSync('/proc/self/mountinfo', 'utf8');
    expect(after.split('\n').filter((l) => l.includes(base) && !before.includes(l))).toEqual([]);
    const m = await run(['true'], {
      init: { mounts: [{ source: join(base, 'no-such-vol'), destination: '/v', readonly: false }] },
    });
    expect(m.code).toBe(125);
    expect(m.error?.message).toMatch(/^invalid mount source \S+no-such-vol: No such file or directory$/);
  });

  it('seccomp=unconfined and nnp=0 are honoured; without nnp the filter is still loaded before the user switch', async () => {
    const u = await run(['grep', '-E', '^(NoNewPrivs|Seccomp):', '/proc/self/status'], {
      process: { seccomp: 'unconfined', noNewPrivileges: false },
    });
    expect(u.stdout).toMatch(/^NoNewPrivs:\s+0\nSeccomp:\s+0$/m);
    const n = await run(['sh', '-c', 'grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status; unshare -m true'], {
      process: { noNewPrivileges: false, user: '1000' },
    });
    expect(n.stdout).toMatch(/^CapEff:\s+0000000000000000\nNoNewPrivs:\s+0\nSeccomp:\s+2$/m);
    expect(n.stderr).toContain('Operation not permitted');
  });

  it('lo_up=1 brings the loopback of a fresh net namespace up (down otherwise)', async () => {
    const up = await run(['cat', '/sys/class/net/lo/flags'], { init: { loopbackUp: true } });
    expect(Number(up.stdout.trim()) & 1).toBe(1); // IFF_UP
    const down = await run(['cat', '/sys/class/net/lo/flags']);
    expect(Number(down.stdout.trim()) & 1).toBe(0);
  });

  it('cgroupfs=v2 mounts a read-only cgroup2 at /sys/fs/cgroup', async () => {
    const r = await run(
      ['sh', '-c', 'grep " /sys/fs/cgroup " /proc/mounts; ls /sys/fs/cgroup; mkdir /sys/fs/cgroup/x; echo "mk=$?"'],
      { init: { cgroupfs: 'v2' } },
    );
    expect(r.stdout).toMatch(/^cgroup2 \/sys\/fs\/cgroup cgroup2 ro,nosuid,nodev,noexec/m);
    expect(r.stdout).toContain('cgroup.procs');
    expect(r.stdout).toMatch(/^mk=[1-9]/m);
  });

  it('signals sent to the shim are forwarded to the container init', async () => {
    const p = await prepare(['sh', '-c', 'trap "echo got-term; exit 7" TERM; echo ready; sleep 60 & wait']);
    const shim = launchShim({ shimConfPath: p.shimConfPath, stdio: 'pipe', detached: false });
    shims.push(shim.shimPid);
    await shim.ready;
    await new Promise((r) => setTimeout(r, 300));
    process.kill(shim.shimPid, 'SIGTERM');
    expect(await shim.exited).toBe(7);
    expect((await shim.output!).stdout).toBe('ready\ngot-term\n');
  });

  it('joins the cgroups before anything runs and reports an OOM kill (v1 memory controller)', async (ctx) => {
    const memRoot = '/sys/fs/cgroup/memory';
    // The host's cgroup layout, not something set-up installs: a skip everywhere.
    if (!existsSync(join(memRoot, 'memory.oom_control')))
      ctx.skip('no cgroup v1 memory controller at /sys/fs/cgroup/memory');
    const cg = join(memRoot, `tvinit-it-${process.pid}`);
    mkdirSync(cg);
    try {
      writeFileSync(join(cg, 'memory.limit_in_bytes'), String(32 << 20));
      try {
        writeFileSync(join(cg, 'memory.memsw.limit_in_bytes'), String(32 << 20));
      } catch {
        /* no swap accounting */
      }
      const r = await run(
        ['sh', '-c', 'cat /proc/self/cgroup | grep memory; dd if=/dev/zero of=/dev/null bs=128M count=1'],
        {
          shim: { cgroupProcs: [join(cg, 'cgroup.procs')], oomFiles: [join(cg, 'memory.oom_control')] },
        },
      );
      expect(r.stdout).toMatch(/^\d+:memory:\/$/m); // inside its own cgroup namespace, rooted at our cgroup
      expect(r.code).toBe(137);
      expect(readExit(r.stateDir)).toMatchObject({ exitCode: 137, signal: 9, oomKilled: true });
    } finally {
      // cgroupfs dirs go with rmdir(2) once their last process is gone.
      for (let i = 0; i < 50 && existsSync(cg); i++) {
        try {
          rmdirSync(cg);
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      expect(existsSync(cg)).toBe(false);
    }
  });

  it('the shim stays small (RSS well under 2 MiB) and the container dies with it', async () => {
    const c = await prepare(['sleep', '60']);
    const shim = launchShim({ shimConfPath: c.shimConfPath, stdio: 'pipe', detached: false });
    shims.push(shim.shimPid);
    const { initPid } = await shim.ready;
    const rss = Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${shim.shimPid}/status`, 'utf8'))?.[1]);
    console.log(`shim RSS: ${rss} kB`);
    expect(rss).toBeLessThan(2048);
    process.kill(shim.shimPid, 'SIGKILL');
    await shim.exited;
    for (let i = 0; i < 50 && existsSync(`/proc/${initPid}`); i++) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(`/proc/${initPid}`)).toBe(false);
  });
});
