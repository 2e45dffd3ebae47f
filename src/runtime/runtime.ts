import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { createCgroupManager, type CgroupManager } from '../cgroups/index.js';
import { TvctlError, isErrno } from '../errors.js';
import { ImageStore } from '../images/store.js';
import {
  DEFAULT_MASKED_PATHS,
  DEFAULT_READONLY_PATHS,
  buildUnshareArgv,
  capabilityMask,
  initConf,
  launchShim,
  shimConf,
  tvinitPath,
  writeConfFile,
  type BindMount,
} from '../namespaces/index.js';
import { defaultRoots, type Roots } from '../paths.js';
import { newId, randomName, shortId } from './ids.js';
import { withLock } from './lock.js';
import { buildProcessConfig } from './process.js';
import { deriveState } from './status.js';
import { ContainerStore, writeFileAtomic } from './store.js';
import type { ContainerInfo, ContainerOptions, ContainerRecord, ExitRecord } from './types.js';

/** The fd at which the shim gives the child a sealed copy of tvinit (CVE-2019-5736: never the host file). */
const SEAL_FD = 5;

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

  constructor(opts: RuntimeOptions = {}) {
    this.roots = opts.roots ?? defaultRoots();
    this.store = new ContainerStore(this.roots);
    this.cgroupRoot = opts.cgroupRoot;
  }

  get images(): ImageStore {
    this.imageStore ??= new ImageStore(this.roots.data);
    return this.imageStore;
  }

  get cgroups(): CgroupManager {
    this.cgroupManager ??= createCgroupManager(this.cgroupRoot !== undefined ? { root: this.cgroupRoot } : {});
    return this.cgroupManager;
  }

  /** Creates a container (record, writable layer) without starting it; validates everything first. */
  async create(opts: ContainerOptions): Promise<ContainerInfo> {
    requireRoot();
    const image = await this.images.resolve(opts.image);
    const caps = opts.capAdd || opts.capDrop ? capabilityMask(opts.capAdd ?? [], opts.capDrop ?? []) : undefined;
    void caps;
    const id = newId();
    const hostname = opts.hostname || shortId(id);
    const proc = buildProcessConfig(image.config, opts, hostname);
    const volumes = (opts.volumes ?? []).map((v) => {
      if (!isAbsolute(v.destination)) {
        throw new TvctlError('INVALID_VOLUME', `invalid volume destination "${v.destination}": must be an absolute path`);
      }
      if (!isAbsolute(v.source)) {
        throw new TvctlError('INVALID_VOLUME', `invalid volume source "${v.source}": named volumes are not supported; give an absolute host path`);
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
        network: opts.network ?? 'none',
        portBindings: opts.publish ?? [],
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
      const taken = await this.store.resolve(n).then(() => true, () => false);
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
      const state = deriveState(await this.store.facts(id));
      if (state.status === 'running' || state.status === 'restarting') return { id, pid: state.pid };
      // A restart: the previous run's facts go; its resources were released when it stopped.
      await Promise.all(['pid', 'exit', 'shim.pid', 'stopped', 'restarts'].map((f) => rm(`${p.stateDir}/${f}`, { force: true })));
      await this.releaseResources(id);
      const cg = await this.cgroups.create(id, rec.hostConfig.limits);
      try {
        await this.writeConfs(rec, cg.procsFiles, cg.oomFiles, opts.attach);
        const shim = launchShim({ shimConfPath: p.shimConf, stdio: opts.attach ? 'inherit' : 'ignore', detached: !opts.attach });
        const { initPid } = await shim.ready;
        await writeFile(`${p.stateDir}/started`, new Date().toISOString());
        if (!opts.attach) return { id, pid: initPid };
        const exited = shim.exited.then(async (code) => {
          await this.releaseResources(id);
          if (rec.hostConfig.autoRemove) await this.removeAll(id, rec.name);
          return code;
        });
        return { id, pid: initPid, exited };
      } catch (err) {
        await this.releaseResources(id);
        throw err;
      }
    });
  }

  private async writeConfs(rec: ContainerRecord, procsFiles: string[], oomFiles: string[], attach: boolean): Promise<void> {
    const p = this.store.paths(rec.id);
    const mounts: BindMount[] = rec.mounts.map((m) => ({ source: m.source, destination: m.destination, readonly: m.readonly }));
    const init = initConf({
      rootfs: p.rootfs,
      lowerDirs: [...rec.layerDirs].reverse(),
      upperDir: p.upper,
      workDir: p.work,
      readonly: rec.hostConfig.readonlyRootfs,
      hostname: rec.config.hostname,
      mounts,
      maskedPaths: [...DEFAULT_MASKED_PATHS],
      readonlyPaths: [...DEFAULT_READONLY_PATHS],
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
      argv: buildUnshareArgv({ tvinit: `/proc/self/fd/${SEAL_FD}`, initConf: p.initConf }),
      cgroupProcs: procsFiles,
      stateDir: p.stateDir,
      syncFd: 3,
      ...(attach ? {} : { logFile: p.log }),
      tty: rec.process.tty,
      stdin: rec.config.openStdin,
      ...(attach ? {} : { restart: toShimRestart(rec) }),
      oomFiles,
      sealFd: SEAL_FD,
    });
    await writeConfFile(p.shimConf, shim);
  }

  /** Releases what a stopped container holds on the host (cgroups; network later). Idempotent. */
  async releaseResources(id: string): Promise<void> {
    await this.cgroups.destroy(id);
  }

  private async removeAll(id: string, name: string): Promise<void> {
    await this.releaseResources(id);
    await this.store.removeFiles(id);
    await this.store.releaseName(name, id);
  }

  /** Creates and starts; foreground runs resolve when the container has exited and been cleaned up. */
  async run(opts: ContainerOptions, runOpts: { detach: boolean }): Promise<{ id: string; exitCode?: number }> {
    const info = await this.create(opts);
    try {
      const started = await this.start(info.id, { attach: !runOpts.detach });
      if (runOpts.detach || !started.exited) return { id: info.id };
      return { id: info.id, exitCode: await started.exited };
    } catch (err) {
      // A run that failed to start leaves nothing behind when --rm was given, or in the foreground case where
      // the container never ran (Docker keeps it as "Created"; we keep it only if the user can inspect it).
      if (opts.autoRemove) await this.removeAll(info.id, info.name);
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

export { writeFileAtomic, stat };
