import { createCgroupManager, type CgroupLimits, type CgroupManager } from '../cgroups/index.js';
import { TvctlError, isErrno } from '../errors.js';
import { ImageStore } from '../images/store.js';
import { NetworkManager, type NetworkAttachment, type PortMapping } from '../network/index.js';
import { connectContainer, disconnectContainer } from './network-attach.js';
import { defaultRoots, type Roots } from '../paths.js';
import { readFile } from '../util/fs-fast.js';
import { createContainer } from './create.js';
import { execInContainer } from './exec.js';
import { containerLogs, type LogRecord, type LogSelection } from './logs.js';
import { publishedPorts } from './ports.js';
import { pruneContainers, releaseResources, removeContainer, removeContainerFiles } from './remove.js';
import { reapContainer, startContainer } from './start.js';
import { deriveState } from './status.js';
import { killContainer, stopContainer, waitContainer } from './stop.js';
import { ContainerStore, parseExitFile } from './store.js';
import type {
  ContainerInfo,
  ContainerOptions,
  ContainerRecord,
  ExecOptions,
  ExitRecord,
  PruneResult,
  StartOptions,
  StartResult,
  UpdateResult,
} from './types.js';
import { updateContainer } from './update.js';

export type { ExecOptions, PruneResult, StartOptions, StartResult, UpdateResult } from './types.js';

export interface RuntimeOptions {
  roots?: Roots;
  cgroupRoot?: string;
  /** The cgroup manager to use instead of the host's (a fake cgroupfs in unit tests). */
  cgroups?: CgroupManager;
}

/**
 * The typed API: every CLI verb is one call here, each operation in a file of its own (create.ts, start.ts,
 * stop.ts, remove.ts, exec.ts, update.ts). No daemon: state is files under the state root plus the facts the
 * per-container supervisor (tvinit shim) writes; status is derived on read.
 */
export class Runtime {
  readonly roots: Roots;
  readonly store: ContainerStore;
  private readonly cgroupRoot: string | undefined;
  private cgroupManager: CgroupManager | undefined;
  private imageStore: ImageStore | undefined;
  private networkManager: NetworkManager | undefined;

  constructor(opts: RuntimeOptions = {}) {
    this.roots = opts.roots ?? defaultRoots();
    this.store = new ContainerStore(this.roots);
    this.cgroupRoot = opts.cgroupRoot;
    this.cgroupManager = opts.cgroups;
  }

  get images(): ImageStore {
    this.imageStore ??= new ImageStore(this.roots.data);
    return this.imageStore;
  }

  get network(): NetworkManager {
    this.networkManager ??= new NetworkManager({ stateRoot: this.roots.state, dataRoot: this.roots.data });
    return this.networkManager;
  }

  get cgroups(): CgroupManager {
    this.cgroupManager ??= createCgroupManager(this.cgroupRoot !== undefined ? { root: this.cgroupRoot } : {});
    return this.cgroupManager;
  }

  /** Creates a container (record, writable layer) without starting it; validates everything first. */
  create(opts: ContainerOptions): Promise<ContainerInfo> {
    return createContainer(this, opts);
  }

  /** Starts a created (or exited) container; a running one is left as it is. */
  start(ref: string, opts: StartOptions): Promise<StartResult> {
    return startContainer(this, ref, opts);
  }

  /** Creates and starts; foreground runs resolve when the container has exited and been cleaned up. */
  async run(opts: ContainerOptions, runOpts: { detach: boolean }): Promise<{ id: string; exitCode?: number }> {
    const info = await this.create(opts);
    try {
      const started = await this.start(info.id, { attach: !runOpts.detach });
      if (runOpts.detach || !started.exited) return { id: info.id };
      return { id: info.id, exitCode: await started.exited };
    } catch (err) {
      // A run that fails at any step leaves nothing behind: no state, no writable layer, no name.
      await removeContainerFiles(this, info.id, info.name);
      throw err;
    }
  }

  /** The supervisor's call after a detached container's final exit: release (and with --rm remove) it. */
  reap(ref: string): Promise<void> {
    return reapContainer(this, ref);
  }

  /** Releases what a stopped container holds on the host (cgroups, network). Idempotent. */
  releaseResources(id: string, rec?: ContainerRecord): Promise<void> {
    return releaseResources(this, id, rec);
  }

  async inspect(ref: string): Promise<ContainerInfo> {
    const id = await this.store.resolve(ref);
    const rec = await this.store.load(id);
    return { ...rec, state: deriveState(await this.store.facts(id)) };
  }

  /** The running containers (or all), newest first. */
  async list(opts: { all?: boolean } = {}): Promise<ContainerInfo[]> {
    const out: ContainerInfo[] = [];
    for (const rec of await this.store.list()) {
      const state = deriveState(await this.store.facts(rec.id));
      if (opts.all || state.running) out.push({ ...rec, state });
    }
    return out.sort((a, b) => b.created.localeCompare(a.created));
  }

  /** Sends a signal to the container's init (Docker's default for kill: SIGKILL). */
  kill(ref: string, signal: string | number = 'SIGKILL'): Promise<string> {
    return killContainer(this, ref, signal);
  }

  /** StopSignal (or SIGTERM), then SIGKILL after `timeoutSec`; resolves once the container has exited. */
  stop(ref: string, timeoutSec = 10): Promise<string> {
    return stopContainer(this, ref, timeoutSec);
  }

  /** Stops (as `stop`) and starts again in the background. */
  async restart(ref: string, timeoutSec = 10): Promise<string> {
    const id = await this.stop(ref, timeoutSec);
    await this.start(id, { attach: false });
    return id;
  }

  /** Blocks until the container stops; returns its exit code (Docker's `wait`). */
  wait(ref: string): Promise<number> {
    return waitContainer(this, ref);
  }

  /** Removes a container; a running one needs `force` (then it is killed first). Leaves nothing behind. */
  remove(ref: string, opts: { force?: boolean } = {}): Promise<string> {
    return removeContainer(this, ref, opts);
  }

  /** Removes every stopped container; failures are returned, one per container, not thrown. */
  prune(): Promise<PruneResult> {
    return pruneContainers(this);
  }

  /** Runs a new process in a running container, with the container's privileges; resolves with its exit code. */
  exec(ref: string, opts: ExecOptions): Promise<number> {
    return execInContainer(this, ref, opts);
  }

  /** Changes resource limits: recorded for the next start, applied at once when the container runs. */
  update(ref: string, change: CgroupLimits): Promise<UpdateResult> {
    return updateContainer(this, ref, change);
  }

  /** A container's log records (see containerLogs); with `follow`, until it stops. */
  logs(ref: string, opts: LogSelection & { follow?: boolean }, emit: (r: LogRecord) => void): Promise<LogRecord[]> {
    return containerLogs(this, ref, opts, emit);
  }

  /** The ports bound for a running container, or the bindings of one PRIVATE_PORT[/PROTO]. */
  async ports(ref: string, privatePort?: string): Promise<PortMapping[]> {
    return publishedPorts(await this.inspect(ref), ref, privatePort);
  }

  /** Connects a running container to one more network (see network-attach.ts). */
  connect(ref: string, network: string, opts: { aliases?: string[] } = {}): Promise<NetworkAttachment> {
    return connectContainer(this, ref, network, opts);
  }

  /** Disconnects a container from a network it was connected to; returns the network's name. */
  disconnect(ref: string, network: string): Promise<string> {
    return disconnectContainer(this, ref, network);
  }

  /** The supervisor's exit record, if the container has exited; a corrupt one is an error, not "none". */
  async readExit(id: string): Promise<ExitRecord | undefined> {
    const file = this.store.paths(id).fact('exit');
    const text = await readFile(file, 'utf8').catch((err: unknown) => {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    });
    if (text === undefined) return undefined;
    const parsed = parseExitFile(text);
    if ('corrupt' in parsed) throw new TvctlError('CORRUPT_EXIT_FILE', `corrupt exit file ${file}: ${parsed.corrupt}`);
    return parsed.exit;
  }
}
