/**
 * Pure builders of the command lines the shim execs. The user's command never appears here: it travels in
 * the init/exec conf file, so nothing in these argvs is parsed as an option by unshare/nsenter.
 */
export interface UnshareArgvSpec {
  /** Path of the tvinit binary as the unshare process will see it (e.g. /proc/self/fd/5 for the sealed copy). */
  tvinit: string;
  /** Path of INIT.conf (read by init before pivot_root). */
  initConf: string;
  /** Join this pre-made network namespace (nsenter --net=PATH) instead of creating an empty one. */
  netnsPath?: string;
  /** Override program paths (defaults: the util-linux tools on PATH). */
  unshare?: string;
  nsenter?: string;
}

export function buildUnshareArgv(spec: UnshareArgvSpec): string[] {
  const prefix = spec.netnsPath !== undefined ? [spec.nsenter ?? 'nsenter', `--net=${spec.netnsPath}`, '--'] : [];
  return [
    ...prefix,
    spec.unshare ?? 'unshare',
    '--mount',
    '--uts',
    '--ipc',
    ...(spec.netnsPath !== undefined ? [] : ['--net']),
    '--pid',
    '--cgroup',
    // No --fork: tvinit forks PID 1 itself and stays as its parent (see native/tvinit/README.md), because
    // `unshare --fork` reports a SIGKILLed child as exit 1. PID 1 dies with that parent (PDEATHSIG).
    '--propagation',
    'private',
    '--',
    spec.tvinit,
    'init',
    spec.initConf,
  ];
}

export interface NsenterExecArgvSpec {
  /** Host pid of the container's init. */
  targetPid: number;
  /** fd at which the shim placed the sealed tvinit copy. */
  sealFd: number;
  /** fd at which the shim placed the exec conf memfd. */
  confFd: number;
  nsenter?: string;
}

export function buildNsenterExecArgv(spec: NsenterExecArgvSpec): string[] {
  return [
    spec.nsenter ?? 'nsenter',
    `--target=${spec.targetPid}`,
    '--mount',
    '--uts',
    '--ipc',
    '--net',
    '--pid',
    '--cgroup',
    '--root',
    '--wd',
    '--',
    `/proc/self/fd/${spec.sealFd}`,
    'exec',
    `fd:${spec.confFd}`,
  ];
}
