import { isAbsolute } from 'node:path';
import { TvctlError } from '../errors.js';
import type { ImageProcessConfig } from '../images/store.js';
import {
  DEFAULT_MASKED_PATHS,
  DEFAULT_READONLY_PATHS,
  EXEC_CONF_FD,
  SEAL_FD,
  SHIM_SYNC_FD,
  buildNsenterExecArgv,
  buildUnshareArgv,
  capabilityMask,
  type BindMount,
  type ExecSpec,
  type InitSpec,
  type ProcessSpec,
  type RestartPolicy as ShimRestartPolicy,
  type ShimSpec,
} from '../namespaces/index.js';
import { buildProcessConfig } from './process.js';
import { mergeEnv } from '../util/env.js';
import type { ContainerOptions, ContainerRecord, ExecOptions, PortBinding, VolumeMount } from './types.js';

/**
 * The mapping from what the user asked for (run/create/exec options) and the image's config to what tvinit
 * enforces (the init, exec and shim confs): capabilities, no_new_privs, seccomp, user, env, mounts, masked and
 * read-only paths, cwd, hostname. The most security-relevant mapping in tvctl, so it is pure: no I/O, no
 * clock, no randomness; unit tests check every rule (test/unit/runtime/container-conf.test.ts).
 */

/** What create needs to know about the resolved image. */
export interface ImageForContainer {
  id: string;
  config: ImageProcessConfig;
  /** Unpacked layer dirs, bottom first. */
  layerDirs: string[];
}

/** The record create writes: the options resolved against the image once, so every start runs the same. */
export function buildContainerRecord(args: {
  id: string;
  name: string;
  hostname: string;
  created: string;
  opts: ContainerOptions;
  image: ImageForContainer;
}): ContainerRecord {
  const { id, name, hostname, created, opts, image } = args;
  capabilityMask(opts.capAdd ?? [], opts.capDrop ?? []); // rejects unknown names before anything is made
  const process = buildProcessConfig(image.config, opts, hostname);
  const volumes = validateVolumes(opts.volumes ?? []);
  return {
    id,
    name,
    created,
    image: opts.image,
    imageId: image.id,
    process,
    config: {
      cmd: opts.cmd && opts.cmd.length > 0 ? opts.cmd : (image.config.cmd ?? []),
      entrypoint: opts.entrypoint ?? image.config.entrypoint ?? [],
      labels: opts.labels ?? {},
      hostname,
      openStdin: opts.interactive ?? false,
      exposedPorts: image.config.exposedPorts,
    },
    hostConfig: {
      autoRemove: opts.autoRemove ?? false,
      readonlyRootfs: opts.readonlyRootfs ?? false,
      capAdd: opts.capAdd ?? [],
      capDrop: opts.capDrop ?? [],
      init: opts.init ?? false,
      restart: opts.restart ?? { name: 'no' },
      limits: opts.limits ?? {},
      network: opts.network ?? 'bridge',
      portBindings: [...(opts.publish ?? []), ...(opts.publishAll ? exposedToBindings(image.config.exposedPorts) : [])],
      addHosts: opts.addHosts ?? [],
      dns: opts.dns ?? [],
    },
    mounts: volumes,
    layerDirs: image.layerDirs,
  };
}

/** Bind mounts only: both ends absolute host/container paths (named volumes are not supported). */
export function validateVolumes(volumes: readonly VolumeMount[]): VolumeMount[] {
  return volumes.map((v) => {
    if (!isAbsolute(v.destination)) {
      throw new TvctlError('INVALID_VOLUME', `invalid volume destination "${v.destination}": must be an absolute path`);
    }
    if (!isAbsolute(v.source)) {
      throw new TvctlError(
        'INVALID_VOLUME',
        `invalid volume source "${v.source}": named volumes are not supported; give an absolute host path`,
      );
    }
    return v;
  });
}

/** `-P`: every ExposedPorts entry ("80/tcp") published on a free host port (0 = chosen at attach). */
export function exposedToBindings(exposed: readonly string[]): PortBinding[] {
  return exposed.map((e) => {
    const [port, proto] = e.split('/');
    return { hostIp: '', hostPort: 0, containerPort: Number(port), protocol: proto === 'udp' ? 'udp' : 'tcp' };
  });
}

/**
 * The privileges every container process gets, its own and exec'd ones alike: Docker's default capabilities
 * adjusted by --cap-add/--cap-drop, no_new_privs always (a setuid binary in the image cannot regain what was
 * dropped), and the default seccomp filter.
 */
function privileges(rec: ContainerRecord): Pick<ProcessSpec, 'caps' | 'noNewPrivileges' | 'seccomp'> {
  return {
    caps: capabilityMask(rec.hostConfig.capAdd, rec.hostConfig.capDrop),
    noNewPrivileges: true,
    seccomp: 'default',
  };
}

/** The host files start() made for the container's /etc (per-container, rewritten on every start). */
export interface EtcFiles {
  hosts: string;
  hostname: string;
  resolvConf: string;
}

export function etcMounts(etc: EtcFiles): BindMount[] {
  return [
    { source: etc.hosts, destination: '/etc/hosts', readonly: false },
    { source: etc.hostname, destination: '/etc/hostname', readonly: false },
    { source: etc.resolvConf, destination: '/etc/resolv.conf', readonly: false },
  ];
}

/** The container's init conf: its root file system, mounts, masks and process. */
export function containerInitSpec(
  rec: ContainerRecord,
  dirs: { rootfs: string; upper: string; work: string },
  net: { netnsPath: string | undefined; etc: EtcFiles },
): InitSpec {
  return {
    rootfs: dirs.rootfs,
    lowerDirs: [...rec.layerDirs].reverse(),
    upperDir: dirs.upper,
    workDir: dirs.work,
    readonly: rec.hostConfig.readonlyRootfs,
    volatile: rec.hostConfig.autoRemove,
    hostname: rec.config.hostname,
    // The /etc files first: a volume on /etc/hosts (say) is mounted over them, as with Docker.
    mounts: [
      ...etcMounts(net.etc),
      ...rec.mounts.map((m) => ({ source: m.source, destination: m.destination, readonly: m.readonly })),
    ],
    maskedPaths: [...DEFAULT_MASKED_PATHS],
    readonlyPaths: [...DEFAULT_READONLY_PATHS],
    // Without a prepared netns init gets a fresh one from unshare --net, whose lo is down.
    loopbackUp: net.netnsPath === undefined,
    process: {
      args: rec.process.args,
      env: rec.process.env,
      cwd: rec.process.workingDir,
      user: rec.process.user,
      ...privileges(rec),
      tty: rec.process.tty,
      init: rec.hostConfig.init,
    },
  };
}

/**
 * The supervisor's conf for the container's init. Detached containers log to a file, follow their restart
 * policy and run `onExit` (tvctl reap) after the final exit; attached ones leave both to the caller.
 */
export function containerShimSpec(
  rec: ContainerRecord,
  files: { initConf: string; stateDir: string; log: string },
  opts: {
    attach: boolean;
    netnsPath: string | undefined;
    cgroupProcs: string[];
    oomFiles: string[];
    onExit: string[];
  },
): ShimSpec {
  return {
    argv: buildUnshareArgv({
      tvinit: `/proc/self/fd/${SEAL_FD}`,
      initConf: files.initConf,
      ...(opts.netnsPath !== undefined ? { netnsPath: opts.netnsPath } : {}),
    }),
    cgroupProcs: opts.cgroupProcs,
    stateDir: files.stateDir,
    syncFd: SHIM_SYNC_FD,
    ...(opts.attach ? {} : { logFile: files.log }),
    tty: rec.process.tty,
    stdin: rec.config.openStdin,
    ...(opts.attach ? {} : { restart: shimRestartPolicy(rec), onExit: opts.onExit }),
    oomFiles: opts.oomFiles,
    sealFd: SEAL_FD,
  };
}

export function shimRestartPolicy(rec: ContainerRecord): ShimRestartPolicy {
  const r = rec.hostConfig.restart;
  if (r.name === 'on-failure') return { name: 'on-failure', maxRetries: r.maximumRetryCount };
  return { name: r.name };
}

/**
 * An exec'd process: the container's privileges (never more), its env with `-e` on top, and its user and
 * working directory unless -u/-w say otherwise.
 */
export function execSpec(rec: ContainerRecord, opts: ExecOptions): ExecSpec {
  return {
    process: {
      args: opts.cmd,
      env: mergeEnv(rec.process.env, opts.env ?? [], { hostname: rec.config.hostname }),
      cwd: opts.workingDir || rec.process.workingDir,
      user: opts.user ?? rec.process.user,
      ...privileges(rec),
      tty: opts.tty ?? false,
    },
  };
}

/**
 * The supervisor's conf for an exec: it joins the container's cgroups, then nsenter (exec'd from a sealed
 * copy) joins its namespaces and root and runs tvinit (sealed too) on the conf passed as a memfd.
 */
export function execShimSpec(args: {
  targetPid: number;
  cgroupProcs: string[];
  execDir: string;
  confFile: string;
  tty: boolean;
  interactive: boolean;
}): ShimSpec {
  return {
    argv: buildNsenterExecArgv({ targetPid: args.targetPid, sealFd: SEAL_FD, confFd: EXEC_CONF_FD }),
    cgroupProcs: args.cgroupProcs,
    stateDir: args.execDir,
    syncFd: SHIM_SYNC_FD,
    tty: args.tty,
    stdin: args.interactive,
    sealFd: SEAL_FD,
    confFd: EXEC_CONF_FD,
    confFile: args.confFile,
    execSealed: true,
  };
}
