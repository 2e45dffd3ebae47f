import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { TvctlError, isErrno } from '../errors.js';
import { nativeBuildDir } from '../paths.js';
import { DEFAULT_DEVICE_RULES, buildCgdevArgv, type DeviceRule } from './devices.js';
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
import { sharesToWeight } from './limits.js';
import {
  DEFAULT_PARENT,
  type CgroupHandle,
  type CgroupLimits,
  type CgroupManager,
  type CgroupMode,
  type CgroupStats,
} from './types.js';

const WANTED_CONTROLLERS = ['cpu', 'cpuset', 'memory', 'pids', 'io'];

/** Attaches the device allowlist program (BPF_PROG_TYPE_CGROUP_DEVICE) with native/out/cgdev. */
export type DeviceFilterAttacher = (cgroupDir: string, rules: readonly DeviceRule[]) => Promise<void>;

export function cgdevPath(): string {
  return join(nativeBuildDir(), 'cgdev');
}

export const attachDeviceFilter: DeviceFilterAttacher = async (cgroupDir, rules) => {
  const bin = cgdevPath();
  if (!existsSync(bin)) {
    throw new TvctlError(
      'NO_CGDEV',
      `${bin} is missing: build it with "make -C native" (needed to restrict devices on cgroup v2)`,
    );
  }
  const { runCommand } = await import('../util/exec.js');
  await runCommand(buildCgdevArgv(bin, cgroupDir, rules));
};

/** Pure cgroup v2: one dir root/tvctl/<id>, controllers enabled in cgroup.subtree_control down the path. */
export class CgroupV2Manager implements CgroupManager {
  readonly mode: CgroupMode = 'v2';
  private readonly root: string;
  private readonly fs: CgroupFs;
  private readonly attach: DeviceFilterAttacher;
  readonly parent: string;

  constructor(opts: { root: string; parent?: string; fs?: CgroupFs; attachDeviceFilter?: DeviceFilterAttacher }) {
    this.root = opts.root;
    this.parent = opts.parent ?? DEFAULT_PARENT;
    checkId(this.parent);
    this.fs = opts.fs ?? nodeCgroupFs;
    this.attach = opts.attachDeviceFilter ?? attachDeviceFilter;
  }

  private dir(id: string): string {
    checkId(id);
    return join(this.root, this.parent, id);
  }

  open(id: string): CgroupHandle {
    const d = this.dir(id);
    return { dirs: [d], procsFiles: [join(d, 'cgroup.procs')], oomFiles: [join(d, 'memory.events')] };
  }

  async create(id: string, limits: CgroupLimits): Promise<CgroupHandle> {
    const handle = this.open(id);
    const d = this.dir(id);
    const parent = join(this.root, this.parent);
    await this.enableControllers(this.root);
    try {
      await this.fs.mkdir(parent);
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
    }
    await this.enableControllers(parent);
    try {
      await mkdirUnderParent(this.fs, d, async () => {
        await this.fs.mkdir(parent);
        await this.enableControllers(parent);
      });
    } catch (err) {
      if (isErrno(err, 'EEXIST')) throw new TvctlError('CGROUP_EXISTS', `cgroup ${d} already exists`, { cause: err });
      throw err;
    }
    try {
      await this.applyLimits(d, limits);
      await this.attach(d, DEFAULT_DEVICE_RULES);
      return handle;
    } catch (err) {
      await this.destroy(id).catch(() => undefined);
      throw err;
    }
  }

  /** Enable each wanted controller the dir offers, one by one (one refusal must not block the others). */
  private async enableControllers(dir: string): Promise<void> {
    const available = ((await readOptional(this.fs, join(dir, 'cgroup.controllers'))) ?? '').trim().split(/\s+/);
    const enabled = ((await readOptional(this.fs, join(dir, 'cgroup.subtree_control'))) ?? '').trim().split(/\s+/);
    for (const c of WANTED_CONTROLLERS) {
      if (!available.includes(c) || enabled.includes(c)) continue;
      await this.fs.write(join(dir, 'cgroup.subtree_control'), `+${c}`).catch(() => undefined);
    }
  }

  async update(id: string, limits: CgroupLimits): Promise<void> {
    const d = this.dir(id);
    if (!(await this.fs.exists(d)))
      throw new TvctlError('NO_CGROUP', `cgroup of container ${id} not found (is it running?)`);
    await this.applyLimits(d, limits);
  }

  private async applyLimits(d: string, l: CgroupLimits): Promise<void> {
    const w = (file: string, v: string | number): Promise<void> => writeControl(this.fs, join(d, file), v);
    if (l.memory !== undefined) await w('memory.max', l.memory);
    if (l.memorySwap !== undefined && (await this.fs.exists(join(d, 'memory.swap.max')))) {
      // Docker's --memory-swap is memory+swap; v2 limits the swap alone.
      let value: string | number = 'max';
      if (l.memorySwap >= 0) {
        const mem = l.memory ?? parseLimitValue(await readOptional(this.fs, join(d, 'memory.max')));
        if (mem === null) throw new TvctlError('BAD_LIMIT', 'set the memory limit (-m) together with --memory-swap');
        value = Math.max(0, l.memorySwap - mem);
      }
      await w('memory.swap.max', value);
    }
    if (l.memoryReservation !== undefined) await w('memory.low', l.memoryReservation);
    if (l.cpuQuota !== undefined || l.cpuPeriod !== undefined) {
      const quota = l.cpuQuota === undefined ? null : l.cpuQuota < 0 ? 'max' : String(l.cpuQuota);
      if (quota === null) {
        // period alone: keep the current quota
        const cur = ((await readOptional(this.fs, join(d, 'cpu.max'))) ?? 'max').trim().split(/\s+/)[0] ?? 'max';
        await w('cpu.max', `${cur} ${l.cpuPeriod}`);
      } else {
        await w('cpu.max', l.cpuPeriod === undefined ? quota : `${quota} ${l.cpuPeriod}`);
      }
    }
    if (l.cpuShares !== undefined && l.cpuShares > 0) await w('cpu.weight', sharesToWeight(l.cpuShares));
    if (l.cpusetCpus !== undefined) await w('cpuset.cpus', l.cpusetCpus);
    if (l.pidsLimit !== undefined) await w('pids.max', l.pidsLimit < 0 ? 'max' : l.pidsLimit);
  }

  async destroy(id: string): Promise<void> {
    const d = this.dir(id);
    if (!(await this.fs.exists(d))) return;
    const kill = join(d, 'cgroup.kill');
    if (await this.fs.exists(kill)) await this.fs.write(kill, '1').catch(() => undefined);
    const freeze = join(d, 'cgroup.freeze');
    const hasFreeze = await this.fs.exists(freeze);
    const all = await subtree(this.fs, d);
    await killAll(
      this.fs,
      all.map((x) => join(x, 'cgroup.procs')),
      hasFreeze ? { freeze: () => this.fs.write(freeze, '1'), thaw: () => this.fs.write(freeze, '0') } : {},
    );
    for (const x of all.reverse()) await removeDir(this.fs, x);
    await removeParentIfEmpty(this.fs, join(this.root, this.parent));
  }

  async pids(id: string): Promise<number[]> {
    return parsePids(await readOptional(this.fs, join(this.dir(id), 'cgroup.procs'))).sort((a, b) => a - b);
  }

  async list(): Promise<string[]> {
    return (await this.fs.children(join(this.root, this.parent))).sort();
  }

  async oomKilled(id: string): Promise<boolean> {
    const text = await readOptional(this.fs, join(this.dir(id), 'memory.events'));
    return (parseKeyValues(text ?? '').get('oom_kill') ?? 0) > 0;
  }

  async stats(id: string): Promise<CgroupStats> {
    const d = this.dir(id);
    if (!(await this.fs.exists(d)))
      throw new TvctlError('NO_CGROUP', `cgroup of container ${id} not found (is it running?)`);
    const read = (f: string): Promise<string | null> => readOptional(this.fs, join(d, f));
    const cpu = parseKeyValues((await read('cpu.stat')) ?? '');
    const usage = Number((await read('memory.current'))?.trim() ?? 0);
    const inactive = parseKeyValues((await read('memory.stat')) ?? '').get('inactive_file') ?? 0;
    const io = parseIoStat(await read('io.stat'));
    return {
      cpuUsageNs: (cpu.get('usage_usec') ?? 0) * 1000,
      memoryUsageBytes: inactive < usage ? usage - inactive : usage,
      memoryLimitBytes: parseLimitValue(await read('memory.max')),
      pidsCurrent: Number((await read('pids.current'))?.trim() ?? 0),
      pidsLimit: parseLimitValue(await read('pids.max')),
      blockReadBytes: io?.read ?? null,
      blockWriteBytes: io?.write ?? null,
    };
  }
}

/** io.stat: "8:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0" lines. */
export function parseIoStat(text: string | null): { read: number; write: number } | null {
  if (text === null) return null;
  let read = 0;
  let write = 0;
  for (const m of text.matchAll(/\b([rw])bytes=(\d+)/g)) {
    if (m[1] === 'r') read += Number(m[2]);
    else write += Number(m[2]);
  }
  return { read, write };
}
