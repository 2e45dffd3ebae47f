import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { mkdir, readFile, writeFile } from '../util/fs-fast.js';
import { constants as osConstants } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { createCgroupManager, type CgroupManager } from '../cgroups/index.js';
import { TvctlError, isErrno } from '../errors.js';
import { ImageStore } from '../images/store.js';
import { NetworkManager, type NetworkAttachment } from '../network/index.js';
import { connectContainer, disconnectContainer } from './network-attach.js';
import {
  DEFAULT_MASKED_PATHS,
  DEFAULT_READONLY_PATHS,
  buildNsenterExecArgv,
  buildUnshareArgv,
  capabilityMask,
  execConf,
  initConf,
  launchShim,
  shimConf,
  writeConfFile,
  type BindMount,
} from '../namespaces/index.js';
import { defaultRoots, packageRoot, type Roots } from '../paths.js';
import { trace } from '../util/trace.js';
import { newId, randomName, shortId } from './ids.js';
import { withLock } from '../util/lock.js';
import { buildProcessConfig, mergeEnv } from './process.js';
import { canKill, canRemove, deriveState } from './status.js';
import { ContainerStore } from './store.js';
import type { ContainerInfo, ContainerOptions, ContainerRecord, ExitRecord, PortBinding } from './types.js';

/** The fd at which the shim gives the child a sealed copy of tvinit (CVE-2019-5736: never the host file). */
const SEAL_FD = 5;
/** The fd at which the exec process finds its conf (it cannot reach host paths after nsenter --root). */
const EXEC_CONF_FD = 6;

export interface ExecOptions {
  cmd: string[];
  env?: string[];
  user?: string;
  workingDir?: string;
  tty?: boolean;
  interactive?: boolean;
}

export interface RuntimeOptions {
  roots?: Roots;
  cgroupRoot?: string;
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

/**
 * The typed API: every CLI verb is one call here. No daemon: state is files under the state root plus the
 * facts the per-container supervisor (tvinit shim) writes; status is derived on read.
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
  async create(opts: ContainerOptions): Promise<ContainerInfo> {
    requireRoot();
    capabilityMask(opts.capAdd ?? [], opts.capDrop ?? []); // validates the names before anything is made
    trace('create: begin');
    const image = await this.images.resolve(opts.image);
    trace('create: image resolved');
    const id = newId();
    const hostname = opts.hostname || shortId(id);
    const proc = buildProcessConfig(image.config, opts, hostname);
    const volumes = (opts.volumes ?? []).map((v) => {
      if (!isAbsolute(v.destination)) {
        throw new TvctlError(
          'INVALID_VOLUME',
          `invalid volume destination "${v.destination}": must be an absolute path`,
        );
      }
      if (!isAbsolute(v.source)) {
        throw new TvctlError(
          'INVALID_VOLUME',
          `invalid volume source "${v.source}": named volumes are not supported; give an absolute host path`,
        );
      }
      return v;
    });
    const name = opts.name ?? (await this.freeName());
    await this.store.reserveName(name, id);
    const rec: ContainerRecord = {
      id,
      name,
      created: new Date().toISOString(),
      image: opts.image,
      imageId: image.id,
      process: proc,
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
        portBindings: [
          ...(opts.publish ?? []),
          ...(opts.publishAll ? exposedToBindings(image.config.exposedPorts) : []),
        ],
        addHosts: opts.addHosts ?? [],
        dns: opts.dns ?? [],
      },
      mounts: volumes,
      layerDirs: image.layerDirs,
    };
    const p = this.store.paths(id);
    try {
      await mkdir(p.rootfs, { recursive: true, mode: 0o700 });
      await mkdir(p.upper, { recursive: true, mode: 0o755 });
      await mkdir(p.work, { recursive: true, mode: 0o700 });
      for (const v of volumes) await mkdir(v.source, { recursive: true }).catch(() => undefined);
      await this.store.save(rec);
      trace('create: state written');
    } catch (err) {
      await this.store.removeFiles(id);
      await this.store.releaseName(name, id);
      throw err;
    }
    return { ...rec, state: deriveState({ shimAlive: false, initAlive: false, restarts: 0 }) };
  }

  private async freeName(): Promise<string> {
    for (;;) {
      const n = randomName();
      const taken = await this.store.resolve(n).then(
        () => true,
        () => false,
      );
      if (!taken) return n;
    }
  }

  /**
   * Starts a created (or exited) container. Cgroups are made and limits written before any container
   * process exists; the supervisor's child joins them before it execs unshare, so nothing escapes.
   */
  async start(ref: string, opts: StartOptions): Promise<StartResult> {
    requireRoot();
    const id = await this.store.resolve(ref);
    const p = this.store.paths(id);
    return withLock(p.lock, async () => {
      const rec = await this.store.load(id);
      const facts = await this.store.facts(id);
      const state = deriveState(facts);
      if (state.status === 'running' || state.status === 'restarting') return { id, pid: state.pid };
      if (facts.shimPid !== undefined) {
        // A restart: the previous run's facts go, and whatever a crashed run may have left is released.
        await Promise.all(
          ['pid', 'exit', 'shim.pid', 'stopped', 'restarts'].map((f) => rm(`${p.stateDir}/${f}`, { force: true })),
        );
        await this.releaseResources(id);
      }
      trace('start: previous facts cleared');
      const cg = await this.cgroups.create(id, rec.hostConfig.limits);
      trace('start: cgroups created');
      try {
        // none: a fresh namespace from unshare --net (lo brought up by tvinit); nothing on the host to manage.
        const net: NetworkAttachment =
          rec.hostConfig.network === 'none'
            ? { mode: 'none', ports: [] }
            : await this.network.attach(id, {
                network: rec.hostConfig.network,
                ports: rec.hostConfig.portBindings,
                hostname: rec.config.hostname,
                aliases: [rec.name],
              });
        const etc = await this.network.writeEtcFiles(id, net, join(p.stateDir, 'etc'), {
          hostname: rec.config.hostname,
          addHosts: rec.hostConfig.addHosts,
          dns: rec.hostConfig.dns,
        });
        trace('start: network attached');
        rec.network = net;
        await this.store.save(rec);
        await this.writeConfs(rec, cg.procsFiles, cg.oomFiles, opts.attach, {
          // Host networking: nsenter joins its own (the host's) network namespace.
          netnsPath: net.mode === 'none' ? undefined : (net.netnsPath ?? '/proc/self/ns/net'),
          etcMounts: [
            { source: etc.hosts, destination: '/etc/hosts', readonly: false },
            { source: etc.hostname, destination: '/etc/hostname', readonly: false },
            { source: etc.resolvConf, destination: '/etc/resolv.conf', readonly: false },
          ],
        });
        trace('start: confs written');
        const shim = launchShim({
          shimConfPath: p.shimConf,
          stdio: opts.attach ? 'inherit' : 'ignore',
          detached: !opts.attach,
        });
        const { initPid } = await shim.ready;
        trace('start: container process running');
        await writeFile(`${p.stateDir}/started`, new Date().toISOString());
        if (!opts.attach) return { id, pid: initPid };
        const exited = shim.exited.then(async (code) => {
          trace('exited');
          await this.releaseResources(id, rec);
          trace('resources released');
          if (rec.hostConfig.autoRemove) await this.removeAll(id, rec.name, true);
          trace('removed');
          return code;
        });
        return { id, pid: initPid, exited };
      } catch (err) {
        await this.releaseResources(id, rec);
        throw err;
      }
    });
  }

  private async writeConfs(
    rec: ContainerRecord,
    procsFiles: string[],
    oomFiles: string[],
    attach: boolean,
    net: { netnsPath: string | undefined; etcMounts: BindMount[] },
  ): Promise<void> {
    const p = this.store.paths(rec.id);
    const mounts: BindMount[] = [
      ...net.etcMounts,
      ...rec.mounts.map((m) => ({ source: m.source, destination: m.destination, readonly: m.readonly })),
    ];
    const init = initConf({
      rootfs: p.rootfs,
      lowerDirs: [...rec.layerDirs].reverse(),
      upperDir: p.upper,
      workDir: p.work,
      readonly: rec.hostConfig.readonlyRootfs,
      volatile: rec.hostConfig.autoRemove,
      hostname: rec.config.hostname,
      mounts,
      maskedPaths: [...DEFAULT_MASKED_PATHS],
      readonlyPaths: [...DEFAULT_READONLY_PATHS],
      loopbackUp: net.netnsPath === undefined,
      process: {
        args: rec.process.args,
        env: rec.process.env,
        cwd: rec.process.workingDir,
        user: rec.process.user,
        caps: capabilityMask(rec.hostConfig.capAdd, rec.hostConfig.capDrop),
        noNewPrivileges: true,
        seccomp: 'default',
        tty: rec.process.tty,
        init: rec.hostConfig.init,
      },
    });
    await writeConfFile(p.initConf, init);
    const shim = shimConf({
      argv: buildUnshareArgv({
        tvinit: `/proc/self/fd/${SEAL_FD}`,
        initConf: p.initConf,
        ...(net.netnsPath !== undefined ? { netnsPath: net.netnsPath } : {}),
      }),
      cgroupProcs: procsFiles,
      stateDir: p.stateDir,
      syncFd: 3,
      ...(attach ? {} : { logFile: p.log }),
      tty: rec.process.tty,
      stdin: rec.config.openStdin,
      ...(attach ? {} : { restart: toShimRestart(rec), onExit: this.reapCommand(rec.id) }),
      oomFiles,
      sealFd: SEAL_FD,
    });
    await writeConfFile(p.shimConf, shim);
  }

  /** The command a detached container's supervisor runs after the final exit (see `reap`). */
  private reapCommand(id: string): string[] {
    const root = packageRoot();
    const blob = join(root, 'dist', 'tvctl.blob');
    const entry = existsSync(blob) ? ['--snapshot-blob', blob, root] : [join(root, 'bin', 'tvctl.js')];
    return [process.execPath, ...entry, 'reap', id, '--root', this.roots.state, '--data', this.roots.data];
  }

  /**
   * Called by a detached container's supervisor once it has exited for good: releases its cgroups and
   * network, and removes it entirely with --rm. Serialized with every other operation by the lock.
   */
  async reap(ref: string): Promise<void> {
    const id = await this.store.resolve(ref);
    await withLock(this.store.paths(id).lock, async () => {
      const rec = await this.store.load(id);
      const state = deriveState(await this.store.facts(id));
      if (state.running || state.status === 'restarting') return; // restarted meanwhile
      if (rec.hostConfig.autoRemove) await this.removeAll(id, rec.name);
      else await this.releaseResources(id, rec);
    });
  }

  /**
   * Releases what a stopped container holds on the host: cgroups, netns, veth, rules, lease. Idempotent.
   * Containers without a managed network (none, host) have nothing on the network side to release.
   */
  async releaseResources(id: string, rec?: ContainerRecord): Promise<void> {
    const record = rec ?? (await this.store.load(id).catch(() => undefined));
    const managedNet = record === undefined || !['none', 'host'].includes(record.hostConfig.network);
    await Promise.all([this.cgroups.destroy(id), managedNet ? this.network.detach(id) : undefined]);
  }

  private async removeAll(id: string, name: string, released = false): Promise<void> {
    if (!released) await this.releaseResources(id);
    await Promise.all([this.store.removeFiles(id), this.store.releaseName(name, id)]);
  }

  /** Connects a running container to one more network (see network-attach.ts). */
  connect(ref: string, network: string, opts: { aliases?: string[] } = {}): Promise<NetworkAttachment> {
    return connectContainer(this, ref, network, opts);
  }

  /** Disconnects a container from a network it was connected to; returns the network's name. */
  disconnect(ref: string, network: string): Promise<string> {
    return disconnectContainer(this, ref, network);
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
      await this.removeAll(info.id, info.name);
      throw err;
    }
  }

  async inspect(ref: string): Promise<ContainerInfo> {
    const id = await this.store.resolve(ref);
    const rec = await this.store.load(id);
    return { ...rec, state: deriveState(await this.store.facts(id)) };
  }

  async list(opts: { all?: boolean } = {}): Promise<ContainerInfo[]> {
    const out: ContainerInfo[] = [];
    for (const rec of await this.store.list()) {
      const state = deriveState(await this.store.facts(rec.id));
      if (opts.all || state.running) out.push({ ...rec, state });
    }
    return out.sort((a, b) => b.created.localeCompare(a.created));
  }

  /** Sends a signal to the container's init (Docker's default for kill: SIGKILL). */
  async kill(ref: string, signal: string | number = 'SIGKILL'): Promise<string> {
    const id = await this.store.resolve(ref);
    const sig = toSignal(signal);
    const state = deriveState(await this.store.facts(id));
    if (!canKill(state.status) || state.pid === 0) {
      throw new TvctlError('NOT_RUNNING', `cannot kill container ${shortId(id)}: container is not running`, 1);
    }
    const rec = await this.store.load(id);
    // An explicit kill with the stop signal or SIGKILL is a manual stop: the restart policy must not undo it.
    if (sig === 'SIGKILL' || sig === rec.process.stopSignal) await writeFile(this.store.paths(id).fact('stopped'), '1');
    signalPid(state.pid, sig);
    return id;
  }

  /** StopSignal (or SIGTERM), then SIGKILL after `timeoutSec`; resolves once the container has exited. */
  async stop(ref: string, timeoutSec = 10): Promise<string> {
    const id = await this.store.resolve(ref);
    const rec = await this.store.load(id);
    const p = this.store.paths(id);
    const state = deriveState(await this.store.facts(id));
    if (canKill(state.status)) {
      await writeFile(p.fact('stopped'), '1');
      if (state.pid > 0) signalPid(state.pid, toSignal(rec.process.stopSignal));
      if (!(await this.waitStopped(id, timeoutSec * 1000))) {
        const again = deriveState(await this.store.facts(id));
        if (again.pid > 0) signalPid(again.pid, 'SIGKILL');
        await this.waitStopped(id, 10_000);
      }
    }
    await this.releaseResources(id);
    return id;
  }

  /** Polls the facts until the supervisor is gone (the container and its restarts are over). */
  private async waitStopped(id: string, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
      const f = await this.store.facts(id);
      const st = deriveState(f);
      if (!f.shimAlive && !st.running) return true;
      if (Date.now() >= deadline) return false;
      await sleep(delay);
    }
  }

  /** Blocks until the container stops; returns its exit code (Docker's `wait`). */
  async wait(ref: string): Promise<number> {
    const id = await this.store.resolve(ref);
    await this.waitStopped(id, Number.POSITIVE_INFINITY);
    return deriveState(await this.store.facts(id)).exitCode;
  }

  /** Removes a container; a running one needs `force` (then it is killed first). Leaves nothing behind. */
  async remove(ref: string, opts: { force?: boolean } = {}): Promise<string> {
    const id = await this.store.resolve(ref);
    const p = this.store.paths(id);
    return withLock(p.lock, async () => {
      const rec = await this.store.load(id);
      const state = deriveState(await this.store.facts(id));
      if (!canRemove(state.status, opts.force ?? false)) {
        throw new TvctlError(
          'CONTAINER_RUNNING',
          `cannot remove container ${shortId(id)}: container is ${state.status}: stop the container before attempting removal or force remove`,
          1,
        );
      }
      if (state.running || state.status === 'restarting') {
        await writeFile(p.fact('stopped'), '1');
        if (state.pid > 0) signalPid(state.pid, 'SIGKILL');
        await this.waitStopped(id, 10_000);
      }
      await this.removeAll(id, rec.name);
      return id;
    });
  }

  /**
   * Runs a new process in a running container: the supervisor joins its cgroups, then (from a sealed copy)
   * nsenter joins its namespaces and root, and tvinit applies the same capabilities, no_new_privs and seccomp
   * filter as the container's own process before exec. Resolves with the process's exit code.
   */
  async exec(ref: string, opts: ExecOptions): Promise<number> {
    requireRoot();
    const id = await this.store.resolve(ref);
    const rec = await this.store.load(id);
    const state = deriveState(await this.store.facts(id));
    if (!state.running || state.pid === 0) {
      throw new TvctlError('NOT_RUNNING', `container ${shortId(id)} is not running`, 1);
    }
    const execDir = join(this.store.paths(id).stateDir, 'exec', newId().slice(0, 16));
    await mkdir(execDir, { recursive: true, mode: 0o700 });
    try {
      const confFile = join(execDir, 'exec.conf');
      await writeConfFile(
        confFile,
        execConf({
          process: {
            args: opts.cmd,
            env: mergeEnv(rec.process.env, opts.env ?? [], rec.config.hostname),
            cwd: opts.workingDir || rec.process.workingDir,
            user: opts.user ?? rec.process.user,
            caps: capabilityMask(rec.hostConfig.capAdd, rec.hostConfig.capDrop),
            noNewPrivileges: true,
            seccomp: 'default',
            tty: opts.tty ?? false,
          },
        }),
      );
      const shimConfPath = join(execDir, 'shim.conf');
      await writeConfFile(
        shimConfPath,
        shimConf({
          argv: buildNsenterExecArgv({ targetPid: state.pid, sealFd: SEAL_FD, confFd: EXEC_CONF_FD }),
          cgroupProcs: this.cgroups.open(id).procsFiles,
          stateDir: execDir,
          syncFd: 3,
          tty: opts.tty ?? false,
          stdin: opts.interactive ?? false,
          sealFd: SEAL_FD,
          confFd: EXEC_CONF_FD,
          confFile,
          execSealed: true,
        }),
      );
      const shim = launchShim({ shimConfPath, stdio: 'inherit', detached: false });
      await shim.ready;
      return await shim.exited;
    } finally {
      await rm(execDir, { recursive: true, force: true });
    }
  }

  /** Removes every stopped container (Docker's `container prune`). */
  async prune(): Promise<string[]> {
    const removed: string[] = [];
    for (const c of await this.list({ all: true })) {
      if (c.state.running || c.state.status === 'restarting') continue;
      await this.remove(c.id).then(
        (id) => removed.push(id),
        () => undefined,
      );
    }
    return removed;
  }

  async readExit(id: string): Promise<ExitRecord | undefined> {
    const text = await readFile(this.store.paths(id).fact('exit'), 'utf8').catch((err: unknown) => {
      if (isErrno(err, 'ENOENT')) return '';
      throw err;
    });
    return text ? (JSON.parse(text) as ExitRecord) : undefined;
  }
}

function toShimRestart(rec: ContainerRecord): { name: 'no' | 'always' | 'on-failure'; maxRetries?: number } {
  const r = rec.hostConfig.restart;
  if (r.name === 'on-failure') return { name: 'on-failure', maxRetries: r.maximumRetryCount };
  return { name: r.name };
}

function requireRoot(): void {
  if (process.getuid && process.getuid() !== 0) {
    throw new TvctlError('NOT_ROOT', 'tvctl needs root to create namespaces, mounts and cgroups; run it with sudo');
  }
}

function toSignal(sig: string | number): NodeJS.Signals {
  if (typeof sig === 'number' || /^\d+$/.test(sig)) {
    const n = Number(sig);
    const name = Object.entries(osConstants.signals).find(([, v]) => v === n)?.[0];
    if (!name) throw new TvctlError('INVALID_SIGNAL', `invalid signal: ${sig}`, 1);
    return name as NodeJS.Signals;
  }
  const name = (sig.toUpperCase().startsWith('SIG') ? sig.toUpperCase() : `SIG${sig.toUpperCase()}`) as NodeJS.Signals;
  if (!(name in osConstants.signals)) throw new TvctlError('INVALID_SIGNAL', `invalid signal: ${sig}`, 1);
  return name;
}

function signalPid(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if (!isErrno(err, 'ESRCH')) throw err;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `-P`: every ExposedPorts entry ("80/tcp") published on a free host port (0 = chosen at attach). */
export function exposedToBindings(exposed: readonly string[]): PortBinding[] {
  return exposed.map((e) => {
    const [port, proto] = e.split('/');
    return { hostIp: '', hostPort: 0, containerPort: Number(port), protocol: proto === 'udp' ? 'udp' : 'tcp' };
  });
}
