import { TvctlError } from '../errors.js';
import { CONSOLE_FD, SYNC_FD } from './fds.js';

/**
 * tvinit configuration files: NUL-terminated `key=value` records. Keys may repeat and the order of repeats is
 * kept (argv, env, mounts). The builders below are pure; the files are written by the caller (0600, in the
 * container's state dir) and read by `native/out/tvinit` (see native/tvinit/README.md).
 */
export type ConfRecord = [key: string, value: string];

export function serializeConf(records: readonly ConfRecord[]): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of records) {
    if (key === '' || key.includes('=') || key.includes('\0')) {
      throw new TvctlError('INVALID_CONF', `invalid tvinit conf key ${JSON.stringify(key)}`);
    }
    if (value.includes('\0')) {
      throw new TvctlError('INVALID_CONF', `tvinit conf value for "${key}" contains a NUL byte`);
    }
    parts.push(Buffer.from(`${key}=${value}\0`, 'utf8'));
  }
  return Buffer.concat(parts);
}

/** The inverse of serializeConf (for tests and for reading back state). */
export function parseConf(buf: Buffer): ConfRecord[] {
  const out: ConfRecord[] = [];
  for (const rec of buf.toString('utf8').split('\0')) {
    if (rec === '') continue;
    const eq = rec.indexOf('=');
    if (eq <= 0) throw new TvctlError('INVALID_CONF', `malformed tvinit conf record ${JSON.stringify(rec)}`);
    out.push([rec.slice(0, eq), rec.slice(eq + 1)]);
  }
  return out;
}

/** What runs in the container and with which privileges (shared by init and exec). */
export interface ProcessSpec {
  /** argv; args[0] is resolved through PATH of `env` inside the container when it has no '/'. */
  args: string[];
  /** `KEY=VALUE` strings. */
  env: string[];
  /** Working directory inside the container (default /; created when missing, as Docker does for WORKDIR). */
  cwd?: string;
  /** Docker `-u`: name|uid[:group|gid], resolved against the container's /etc/passwd and /etc/group. */
  user?: string;
  /** Capability mask (bounding, permitted and effective for uid 0; see caps.ts). */
  caps: bigint;
  noNewPrivileges: boolean;
  seccomp: 'default' | 'unconfined';
  tty: boolean;
  /** PID 1 stays tvinit (tini-like): forwards signals, reaps zombies. Init mode only. */
  init?: boolean;
}

export interface BindMount {
  /** Host path. */
  source: string;
  /** Container path (resolved inside the rootfs, symlinks cannot leave it). */
  destination: string;
  readonly: boolean;
}

export interface InitSpec {
  process: ProcessSpec;
  /** Where the overlay is mounted (an empty dir on the host; becomes / of the container). */
  rootfs: string;
  /** Image layer dirs, top-most first (overlayfs lowerdir order). */
  lowerDirs: string[];
  /** Writable layer; without upperDir/workDir the overlay is read-only. */
  upperDir?: string;
  workDir?: string;
  /**
   * The writable layer is thrown away at exit (--rm): mount the overlay `volatile`, so that the kernel never
   * syncs the upper file system for it (see native/tvinit/rootfs.c).
   */
  volatile?: boolean;
  /** Root file system read-only at the end (--read-only). */
  readonly?: boolean;
  hostname?: string;
  mounts?: BindMount[];
  maskedPaths?: string[];
  readonlyPaths?: string[];
  /** Bring lo up (a fresh network namespace of its own: --network none). */
  loopbackUp?: boolean;
  /** Mount a read-only cgroup2 at /sys/fs/cgroup (namespaced by the cgroup ns). */
  cgroupfs?: 'v2';
  /** Defaults: SYNC_FD, CONSOLE_FD. */
  syncFd?: number;
  consoleFd?: number;
}

export interface ExecSpec {
  process: ProcessSpec;
  syncFd?: number;
  consoleFd?: number;
}

export interface RestartPolicy {
  name: 'no' | 'always' | 'on-failure';
  /** on-failure only: at most this many restarts (0 or absent = unlimited). */
  maxRetries?: number;
}

export interface ShimSpec {
  /** The command the shim's child execs (buildUnshareArgv / buildNsenterExecArgv). */
  argv: string[];
  /**
   * The cgroup.procs file of every cgroup the child joins before it execs argv. The shim joins a v1 one through
   * its `tasks` file and the cgroup2 one with clone3(CLONE_INTO_CGROUP) (native/tvinit/shim.c says why).
   */
  cgroupProcs: string[];
  /** Container state dir: shim.pid, pid, exit, restarts, stopped. */
  stateDir: string;
  /** fd (from Node) to relay `pid N` / `error CODE MSG` lines on; closed after the first start. */
  syncFd?: number;
  /** Detached mode: container output appended here in CRI log format; stdin is /dev/null. */
  logFile?: string;
  tty: boolean;
  /** Keep stdin attached (-i). Without it the container gets /dev/null. */
  stdin: boolean;
  restart?: RestartPolicy;
  /** Files with an `oom_kill N` line (v2 memory.events, v1 memory.oom_control). */
  oomFiles?: string[];
  /** Put a sealed memfd copy of tvinit at this fd in the child (argv may name /proc/self/fd/N). */
  sealFd?: number;
  /** Put a memfd holding confFile's bytes at confFd in the child (exec mode: `exec fd:N`). */
  confFd?: number;
  confFile?: string;
  /** Exec argv[0] from a sealed memfd copy (so nsenter is never a writable host binary). */
  execSealed?: boolean;
  /** Executed (absolute path, replacing the shim) after the final exit was recorded: releases host resources. */
  onExit?: string[];
}

function processRecords(p: ProcessSpec): ConfRecord[] {
  const r: ConfRecord[] = [];
  if (p.args.length === 0) throw new TvctlError('INVALID_CONF', 'no command specified');
  for (const a of p.args) r.push(['arg', a]);
  for (const e of p.env) {
    if (!e.includes('='))
      throw new TvctlError('INVALID_CONF', `invalid environment entry ${JSON.stringify(e)}; expected KEY=VALUE`);
    r.push(['env', e]);
  }
  if (p.cwd !== undefined && p.cwd !== '') r.push(['cwd', p.cwd]);
  if (p.user !== undefined && p.user !== '') r.push(['user', p.user]);
  r.push(['caps', '0x' + p.caps.toString(16).padStart(16, '0')]);
  if (p.noNewPrivileges) r.push(['nnp', '1']);
  r.push(['seccomp', p.seccomp]);
  if (p.tty) r.push(['tty', '1']);
  if (p.init) r.push(['init', '1']);
  return r;
}

function checkAbsolute(path: string, what: string): void {
  if (!path.startsWith('/'))
    throw new TvctlError('INVALID_CONF', `${what} must be an absolute path: ${JSON.stringify(path)}`);
}

export function initRecords(spec: InitSpec): ConfRecord[] {
  const r: ConfRecord[] = [['sync_fd', String(spec.syncFd ?? SYNC_FD)]];
  if (spec.process.tty) r.push(['console_fd', String(spec.consoleFd ?? CONSOLE_FD)]);
  checkAbsolute(spec.rootfs, 'rootfs');
  r.push(['rootfs', spec.rootfs]);
  if (spec.lowerDirs.length === 0)
    throw new TvctlError('INVALID_CONF', 'at least one image layer (lowerdir) is required');
  for (const l of spec.lowerDirs) {
    // overlayfs option syntax: ':' separates lowerdirs and ',' separates options.
    if (/[:,]/.test(l)) throw new TvctlError('INVALID_CONF', `layer path cannot contain ':' or ',': ${l}`);
    r.push(['lower', l]);
  }
  if ((spec.upperDir === undefined) !== (spec.workDir === undefined)) {
    throw new TvctlError('INVALID_CONF', 'upperDir and workDir go together');
  }
  if (spec.upperDir !== undefined && spec.workDir !== undefined) {
    r.push(['upper', spec.upperDir], ['work', spec.workDir]);
    if (spec.volatile) r.push(['volatile', '1']);
  }
  if (spec.readonly) r.push(['readonly', '1']);
  if (spec.hostname !== undefined && spec.hostname !== '') r.push(['hostname', spec.hostname]);
  for (const m of spec.mounts ?? []) {
    checkAbsolute(m.source, 'mount source');
    checkAbsolute(m.destination, 'mount destination');
    if (/[\t]/.test(m.source + m.destination)) throw new TvctlError('INVALID_CONF', 'mount paths cannot contain tabs');
    r.push(['mount', `${m.source}\t${m.destination}\t${m.readonly ? 'ro' : 'rw'}`]);
  }
  for (const p of spec.maskedPaths ?? []) r.push(['masked', p]);
  for (const p of spec.readonlyPaths ?? []) r.push(['readonly_path', p]);
  if (spec.cgroupfs) r.push(['cgroupfs', spec.cgroupfs]);
  if (spec.loopbackUp) r.push(['lo_up', '1']);
  return [...r, ...processRecords(spec.process)];
}

export function execRecords(spec: ExecSpec): ConfRecord[] {
  const r: ConfRecord[] = [['sync_fd', String(spec.syncFd ?? SYNC_FD)]];
  if (spec.process.tty) r.push(['console_fd', String(spec.consoleFd ?? CONSOLE_FD)]);
  if (spec.process.init) throw new TvctlError('INVALID_CONF', 'init=1 is only valid for the container init');
  return [...r, ...processRecords(spec.process)];
}

export function formatRestart(p: RestartPolicy): string {
  if (p.name === 'on-failure' && p.maxRetries !== undefined && p.maxRetries > 0) return `on-failure:${p.maxRetries}`;
  return p.name;
}

export function shimRecords(spec: ShimSpec): ConfRecord[] {
  if (spec.argv.length === 0) throw new TvctlError('INVALID_CONF', 'shim argv is empty');
  const r: ConfRecord[] = spec.argv.map((a): ConfRecord => ['argv', a]);
  for (const c of spec.cgroupProcs) r.push(['cgroup_procs', c]);
  checkAbsolute(spec.stateDir, 'state dir');
  r.push(['state_dir', spec.stateDir]);
  if (spec.syncFd !== undefined) r.push(['sync_fd', String(spec.syncFd)]);
  if (spec.logFile !== undefined) r.push(['log', spec.logFile]);
  if (spec.tty) r.push(['tty', '1']);
  if (spec.stdin) r.push(['stdin', '1']);
  if (spec.restart && spec.restart.name !== 'no') {
    if (spec.logFile === undefined) throw new TvctlError('INVALID_CONF', 'restart policies need detached mode');
    r.push(['restart', formatRestart(spec.restart)]);
  }
  for (const f of spec.oomFiles ?? []) r.push(['oom_file', f]);
  if (spec.sealFd !== undefined) r.push(['seal_fd', String(spec.sealFd)]);
  if ((spec.confFd === undefined) !== (spec.confFile === undefined)) {
    throw new TvctlError('INVALID_CONF', 'confFd and confFile go together');
  }
  if (spec.confFd !== undefined && spec.confFile !== undefined)
    r.push(['conf_fd', String(spec.confFd)], ['conf', spec.confFile]);
  if (spec.execSealed) r.push(['exec_sealed', '1']);
  for (const a of spec.onExit ?? []) r.push(['on_exit', a]);
  return r;
}

export const initConf = (spec: InitSpec): Buffer => serializeConf(initRecords(spec));
export const execConf = (spec: ExecSpec): Buffer => serializeConf(execRecords(spec));
export const shimConf = (spec: ShimSpec): Buffer => serializeConf(shimRecords(spec));
