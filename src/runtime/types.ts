import type { CgroupLimits } from '../cgroups/index.js';
import type { ContainerNetwork } from '../network/index.js';

export type RestartPolicy = { name: 'no' } | { name: 'always' } | { name: 'on-failure'; maximumRetryCount: number };

export interface VolumeMount {
  source: string;
  destination: string;
  readonly: boolean;
}

export interface PortBinding {
  hostIp: string;
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
}

/** What the user asked for: the input of create/run (the typed API's options). */
export interface ContainerOptions {
  image: string;
  /** Overrides the image's Cmd (Docker's CMD ARG...). */
  cmd?: string[];
  /** Overrides the image's Entrypoint; [] clears it (`--entrypoint ""`). */
  entrypoint?: string[];
  env?: string[];
  workingDir?: string;
  user?: string;
  hostname?: string;
  name?: string;
  labels?: Record<string, string>;
  tty?: boolean;
  interactive?: boolean;
  readonlyRootfs?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  volumes?: VolumeMount[];
  init?: boolean;
  autoRemove?: boolean;
  restart?: RestartPolicy;
  limits?: CgroupLimits;
  network?: string;
  publish?: PortBinding[];
  publishAll?: boolean;
  addHosts?: string[];
  dns?: string[];
  privilegedSeccomp?: boolean;
}

/** The process a container runs, after merging the image config with the options (Docker's rules). */
export interface ProcessConfig {
  args: string[];
  env: string[];
  workingDir: string;
  user: string;
  tty: boolean;
  stopSignal: string;
}

/** state.json: written once at create (atomically), updated only under the container's lock. */
export interface ContainerRecord {
  id: string;
  name: string;
  created: string;
  image: string;
  imageId: string;
  process: ProcessConfig;
  /** The image's Cmd/Entrypoint as configured, for `inspect`. */
  config: {
    cmd: string[];
    entrypoint: string[];
    labels: Record<string, string>;
    hostname: string;
    openStdin: boolean;
    exposedPorts: string[];
  };
  hostConfig: {
    autoRemove: boolean;
    readonlyRootfs: boolean;
    capAdd: string[];
    capDrop: string[];
    init: boolean;
    restart: RestartPolicy;
    limits: CgroupLimits;
    network: string;
    portBindings: PortBinding[];
    addHosts: string[];
    dns: string[];
  };
  mounts: VolumeMount[];
  layerDirs: string[];
  /** Set by start: the network attached (eth0) and those connected since; absent until the first start. */
  network?: ContainerNetwork;
}

export type ContainerStatus = 'created' | 'running' | 'restarting' | 'exited' | 'dead';

/** Facts read from the container's state dir and /proc, from which the status is derived. */
export interface ContainerFacts {
  shimPid?: number;
  shimAlive: boolean;
  initPid?: number;
  initAlive: boolean;
  exit?: ExitRecord;
  /** The exit file is there but cannot be read as an ExitRecord: why (the container's end is unknown). */
  exitCorrupt?: string;
  restarts: number;
  startedAt?: string;
}

/** The shim's exit file (one JSON line). */
export interface ExitRecord {
  exitCode: number;
  signal: number | null;
  oomKilled: boolean;
  startedAt: string;
  finishedAt: string;
  restartCount: number;
}

export interface ContainerState {
  status: ContainerStatus;
  running: boolean;
  pid: number;
  exitCode: number;
  oomKilled: boolean;
  startedAt: string;
  finishedAt: string;
  restartCount: number;
  error: string;
}

export interface ContainerInfo extends ContainerRecord {
  state: ContainerState;
}

export interface ExecOptions {
  cmd: string[];
  env?: string[];
  user?: string;
  workingDir?: string;
  tty?: boolean;
  interactive?: boolean;
}

export interface StartOptions {
  /** Foreground: the container's stdio is ours and start() resolves when it exits. */
  attach: boolean;
}

export interface StartResult {
  id: string;
  pid: number;
  /** Foreground only: resolves with the exit code (128+N for signal N) once everything was cleaned up. */
  exited?: Promise<number>;
}

/** `tvctl update`: the limits now recorded (used again at the next start), and whether they were applied live. */
export interface UpdateResult {
  id: string;
  limits: CgroupLimits;
  applied: boolean;
}

/** `tvctl container prune`: what was removed and what could not be (each with the reason). */
export interface PruneResult {
  removed: string[];
  failed: Array<{ id: string; error: string }>;
}
