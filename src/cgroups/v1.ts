import { existsSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { TvctlError, isErrno } from '../errors.js';
import { V1_CONTROLLERS, type V1Controller } from './detect.js';
import { DEFAULT_DEVICE_RULES, formatDeviceRule } from './devices.js';
import { DEFAULT_PARENT } from './types.js';
import {
  checkId,
  killAll,
  nodeCgroupFs,
  parseKeyValues,
  parseLimitValue,
  parsePids,
  readOptional,
  mkdirUnderParent,
  removeDir,
  removeParentIfEmpty,
  subtree,
  writeControl,
  type CgroupFs,
} from './fs.js';
import type { CgroupHandle, CgroupLimits, CgroupManager, CgroupMode, CgroupStats } from './types.js';
import { attachDeviceFilter, type DeviceFilterAttacher } from './v2.js';

/**
 * cgroup v1 (and hybrid: v1 controllers plus the cgroup2 tree at root/unified, which the container also
 * joins so it gets a v2 cgroup for cgroup.kill and the cgroup namespace). One dir per hierarchy:
 * root/<controller>/tvctl/<id>; co-mounted controllers (cpu → cpu,cpuacct) share a dir.
 */
export class CgroupV1Manager implements CgroupManager {
  readonly mode: CgroupMode;
  private readonly root: string;
  private readonly fs: CgroupFs;
  /** controller → its hierarchy mount dir (symlinks kept, co-mounts resolved by realpath) */
  private readonly controllers = new Map<V1Controller, string>();
  private readonly hierarchies: string[] = [];
  private readonly unified: string | null;
  private readonly attach: DeviceFilterAttacher;
  /** the dir under each hierarchy root that holds all container cgroups */
  readonly parent: string;

  constructor(opts: {
    root: string;
    mode: 'v1' | 'hybrid';
    parent?: string;
    fs?: CgroupFs;
    attachDeviceFilter?: DeviceFilterAttacher;
  }) {
    this.root = opts.root;
    this.parent = opts.parent ?? DEFAULT_PARENT;
    checkId(this.parent);
    this.mode = opts.mode;
    this.fs = opts.fs ?? nodeCgroupFs;
    this.attach = opts.attachDeviceFilter ?? attachDeviceFilter;
    const seen = new Map<string, string>();
    for (const c of V1_CONTROLLERS) {
      const mount = join(this.root, c);
      if (!existsSync(mount)) continue;
      const real = realpathSync(mount);
      const first = seen.get(real);
      if (first === undefined) {
        seen.set(real, mount);
        this.hierarchies.push(mount);
        this.controllers.set(c, mount);
      } else {
        this.controllers.set(c, first);
      }
    }
    const unified = join(this.root, 'unified');
    this.unified = this.mode === 'hybrid' && existsSync(join(unified, 'cgroup.controllers')) ? unified : null;
  }

  private dir(c: V1Controller, id: string): string | null {
    const mount = this.controllers.get(c);
    return mount === undefined ? null : join(mount, this.parent, id);
  }

  private unifiedDir(id: string): string | null {
    return this.unified === null ? null : join(this.unified, this.parent, id);
  }

  open(id: string): CgroupHandle {
    checkId(id);
    const dirs = this.hierarchies.map((h) => join(h, this.parent, id));
    const u = this.unifiedDir(id);
    if (u !== null) dirs.push(u);
    const mem = this.dir('memory', id);
    return {
      dirs,
      procsFiles: dirs.map((d) => join(d, 'cgroup.procs')),
      oomFiles: mem === null ? [] : [join(mem, 'memory.oom_control')],
    };
  }

  async create(id: string, limits: CgroupLimits): Promise<CgroupHandle> {
    const handle = this.open(id);
    try {
      // Hierarchies are independent: set them up side by side (this is on every container's start path).
      await Promise.all(
        [...this.hierarchies, ...(this.unified !== null ? [this.unified] : [])].map((h) => this.ensureParent(h)),
      );
      await Promise.all(
        handle.dirs.map(async (d) => {
          try {
            await mkdirUnderParent(this.fs, d, () => this.ensureParent(dirname(dirname(d))));
          } catch (err) {
            if (isErrno(err, 'EEXIST'))
              throw new TvctlError('CGROUP_EXISTS', `cgroup ${d} already exists`, { cause: err });
            throw err;
          }
        }),
      );
      const cpuset = this.dir('cpuset', id);
      const limitsInOrder = async (): Promise<void> => {
        // A new cpuset must get cpus/mems before anything else is written to it.
        if (cpuset !== null) await this.initCpuset(cpuset, limits.cpusetCpus);
        await this.applyLimits(id, limits);
      };
      await Promise.all([limitsInOrder(), this.applyDevices(id)]);
      return handle;
    } catch (err) {
      // Leave nothing behind. A clash (CGROUP_EXISTS) means the dirs are not ours to remove.
      if (!(err instanceof TvctlError && err.code === 'CGROUP_EXISTS')) await this.destroy(id).catch(() => undefined);
      throw err;
    }
  }

  /** root/<ctrl>/tvctl, with cpuset.cpus/mems copied from the root so tasks can join below it. */
  private async ensureParent(mount: string): Promise<void> {
    const parent = join(mount, this.parent);
    try {
      await this.fs.mkdir(parent);
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
    }
    if (mount === this.controllers.get('cpuset')) await this.initCpuset(parent, undefined);
  }

  /** A new v1 cpuset has empty cpus/mems and refuses tasks: fill them from the parent. */
  private async initCpuset(dir: string, cpus: string | undefined): Promise<void> {
    const parent = join(dir, '..');
    for (const [file, wanted] of [
      ['cpuset.cpus', cpus],
      ['cpuset.mems', undefined],
    ] as const) {
      const current = ((await readOptional(this.fs, join(dir, file))) ?? '').trim();
      if (wanted !== undefined) {
        await writeControl(this.fs, join(dir, file), wanted);
      } else if (current === '') {
        const fromParent = ((await readOptional(this.fs, join(parent, file))) ?? '').trim();
        await writeControl(this.fs, join(dir, file), fromParent);
      }
    }
  }

  private async applyDevices(id: string): Promise<void> {
    const dev = this.dir('devices', id);
    if (dev !== null) {
      await writeControl(this.fs, join(dev, 'devices.deny'), 'a');
      for (const r of DEFAULT_DEVICE_RULES)
        await writeControl(this.fs, join(dev, 'devices.allow'), formatDeviceRule(r));
      return;
    }
    // Hybrid host without the v1 devices controller: the cgroup2 device filter still applies to the task.
    const u = this.unifiedDir(id);
    if (u !== null) {
      await this.attach(u, DEFAULT_DEVICE_RULES);
      return;
    }
    throw new TvctlError(
      'NO_DEVICE_CGROUP',
      'no devices cgroup controller on this host: device access cannot be restricted',
    );
  }

  async update(id: string, limits: CgroupLimits): Promise<void> {
    checkId(id);
    const mem = this.dir('memory', id);
    if (mem === null || !(await this.fs.exists(mem))) {
      throw new TvctlError('NO_CGROUP', `cgroup of container ${id} not found (is it running?)`);
    }
    await this.applyLimits(id, limits);
  }

  private async applyLimits(id: string, l: CgroupLimits): Promise<void> {
    const mem = this.dir('memory', id);
    if (mem !== null) await this.applyMemory(mem, l);
    else if (l.memory !== undefined || l.memorySwap !== undefined) throw missing('memory');

    const cpu = this.dir('cpu', id);
    if (cpu !== null) {
      if (l.cpuShares !== undefined) await writeControl(this.fs, join(cpu, 'cpu.shares'), l.cpuShares);
      await this.applyCpuQuota(cpu, l);
    } else if (l.cpuQuota !== undefined || l.cpuShares !== undefined) throw missing('cpu');

    if (l.cpusetCpus !== undefined) {
      const cs = this.dir('cpuset', id);
      if (cs === null) throw missing('cpuset');
      await writeControl(this.fs, join(cs, 'cpuset.cpus'), l.cpusetCpus);
    }
    if (l.pidsLimit !== undefined) {
      const p = this.dir('pids', id);
      if (p === null) throw missing('pids');
      await writeControl(this.fs, join(p, 'pids.max'), l.pidsLimit < 0 ? 'max' : l.pidsLimit);
    }
  }

  /**
   * memory.memsw.limit_in_bytes must stay >= memory.limit_in_bytes at every moment, so the order of the two
   * writes depends on the direction of the change (as runc does).
   */
  private async applyMemory(dir: string, l: CgroupLimits): Promise<void> {
    const limitFile = join(dir, 'memory.limit_in_bytes');
    const memswFile = join(dir, 'memory.memsw.limit_in_bytes');
    const hasMemsw = await this.fs.exists(memswFile);
    const swap = hasMemsw ? l.memorySwap : undefined;
    if (l.memory !== undefined && swap !== undefined) {
      const current = parseLimitValue(await readOptional(this.fs, limitFile));
      const swapFirst = swap === -1 || (current !== null && current < swap);
      if (swapFirst) {
        await writeControl(this.fs, memswFile, swap);
        await writeControl(this.fs, limitFile, l.memory);
      } else {
        await writeControl(this.fs, limitFile, l.memory);
        await writeControl(this.fs, memswFile, swap);
      }
    } else if (l.memory !== undefined) {
      await writeControl(this.fs, limitFile, l.memory);
    } else if (swap !== undefined) {
      await writeControl(this.fs, memswFile, swap);
    }
    if (l.memoryReservation !== undefined) {
      await writeControl(this.fs, join(dir, 'memory.soft_limit_in_bytes'), l.memoryReservation);
    }
  }

  /**
   * Period first, then quota. A shorter period can be refused (EINVAL) while the old quota/new period ratio
   * would exceed the parent's; then set the quota first and retry the period (runc's order quirk).
   */
  private async applyCpuQuota(dir: string, l: CgroupLimits): Promise<void> {
    const periodFile = join(dir, 'cpu.cfs_period_us');
    const quotaFile = join(dir, 'cpu.cfs_quota_us');
    let periodPending = false;
    if (l.cpuPeriod !== undefined) {
      try {
        await writeControl(this.fs, periodFile, l.cpuPeriod);
      } catch (err) {
        const cause = err instanceof TvctlError ? err.cause : undefined;
        if (!isErrno(cause, 'EINVAL') || l.cpuQuota === undefined) throw err;
        periodPending = true;
      }
    }
    if (l.cpuQuota !== undefined) {
      await writeControl(this.fs, quotaFile, l.cpuQuota < 0 ? -1 : l.cpuQuota);
      if (periodPending && l.cpuPeriod !== undefined) await writeControl(this.fs, periodFile, l.cpuPeriod);
    }
  }

  async destroy(id: string): Promise<void> {
    const handle = this.open(id);
    const present: string[] = [];
    for (const d of handle.dirs) if (await this.fs.exists(d)) present.push(d);
    if (present.length === 0) return;
    const u = this.unifiedDir(id);
    if (u !== null && present.includes(u) && (await this.fs.exists(join(u, 'cgroup.kill')))) {
      await this.fs.write(join(u, 'cgroup.kill'), '1').catch(() => undefined);
    }
    const freezer = this.dir('freezer', id);
    const freezerState = freezer !== null && present.includes(freezer) ? join(freezer, 'freezer.state') : null;
    const all: string[] = [];
    for (const d of present) all.push(...(await subtree(this.fs, d)));
    await killAll(
      this.fs,
      all.map((d) => join(d, 'cgroup.procs')),
      freezerState === null
        ? {}
        : {
            freeze: () => this.fs.write(freezerState, 'FROZEN'),
            thaw: () => this.fs.write(freezerState, 'THAWED'),
          },
    );
    // Deepest first within a hierarchy; the hierarchies themselves side by side.
    await Promise.all(
      present.map(async (top) => {
        for (const d of all.filter((x) => x === top || x.startsWith(`${top}/`)).reverse()) await removeDir(this.fs, d);
        await removeParentIfEmpty(this.fs, dirname(top));
      }),
    );
  }

  async pids(id: string): Promise<number[]> {
    const all = new Set<number>();
    for (const f of this.open(id).procsFiles) for (const p of parsePids(await readOptional(this.fs, f))) all.add(p);
    return [...all].sort((a, b) => a - b);
  }

  async list(): Promise<string[]> {
    const mounts = [...this.hierarchies, ...(this.unified === null ? [] : [this.unified])];
    const ids = new Set<string>();
    for (const m of mounts) for (const c of await this.fs.children(join(m, this.parent))) ids.add(c);
    return [...ids].sort();
  }

  async oomKilled(id: string): Promise<boolean> {
    const mem = this.dir('memory', id);
    if (mem === null) return false;
    const text = await readOptional(this.fs, join(mem, 'memory.oom_control'));
    return (parseKeyValues(text ?? '').get('oom_kill') ?? 0) > 0;
  }

  async stats(id: string): Promise<CgroupStats> {
    checkId(id);
    const read = async (c: V1Controller, file: string): Promise<string | null> => {
      const d = this.dir(c, id);
      return d === null ? null : readOptional(this.fs, join(d, file));
    };
    const mem = this.dir('memory', id);
    if (mem === null || !(await this.fs.exists(mem))) {
      throw new TvctlError('NO_CGROUP', `cgroup of container ${id} not found (is it running?)`);
    }
    const usage = Number((await read('memory', 'memory.usage_in_bytes'))?.trim() ?? 0);
    const mstat = parseKeyValues((await read('memory', 'memory.stat')) ?? '');
    const inactive = mstat.get('total_inactive_file') ?? mstat.get('inactive_file') ?? 0;
    const blk = parseBlkio(
      (await read('blkio', 'blkio.throttle.io_service_bytes_recursive')) ??
        (await read('blkio', 'blkio.throttle.io_service_bytes')),
    );
    return {
      cpuUsageNs: Number((await read('cpuacct', 'cpuacct.usage'))?.trim() ?? 0),
      memoryUsageBytes: inactive < usage ? usage - inactive : usage,
      memoryLimitBytes: parseLimitValue(await read('memory', 'memory.limit_in_bytes')),
      pidsCurrent: Number((await read('pids', 'pids.current'))?.trim() ?? 0),
      pidsLimit: parseLimitValue(await read('pids', 'pids.max')),
      blockReadBytes: blk?.read ?? null,
      blockWriteBytes: blk?.write ?? null,
    };
  }
}

function missing(controller: string): TvctlError {
  return new TvctlError('NO_CONTROLLER', `the ${controller} cgroup controller is not mounted on this host`);
}

/** blkio.throttle.io_service_bytes: "8:0 Read 4096" lines. */
export function parseBlkio(text: string | null): { read: number; write: number } | null {
  if (text === null) return null;
  let read = 0;
  let write = 0;
  for (const line of text.split('\n')) {
    const [, op, v] = line.trim().split(/\s+/);
    if (op === 'Read') read += Number(v);
    else if (op === 'Write') write += Number(v);
  }
  return { read, write };
}
