import {
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  rmdirSync,
  writeSync,
} from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { TvctlError, errorMessage, isErrno } from '../errors.js';

/**
 * The file operations a cgroup manager performs. The real one is plain node:fs on cgroupfs; unit tests run
 * the same code on a temp-dir tree and may wrap `write` to record order or inject kernel errors (EINVAL).
 */
export interface CgroupFs {
  /** one write() of `value` to an existing control file */
  write(path: string, value: string): Promise<void>;
  read(path: string): Promise<string>;
  exists(path: string): Promise<boolean>;
  mkdir(path: string): Promise<void>;
  /** remove one cgroup dir (on cgroupfs a dir with control files but no children/tasks is removable) */
  rmdir(path: string): Promise<void>;
  /** names of the child cgroups (sub-directories) of a dir; [] when it does not exist */
  children(path: string): Promise<string[]>;
}

/**
 * The real cgroupfs. Synchronous syscalls behind the async interface on purpose: each is a few microseconds on
 * a pseudo file system, while a round trip through libuv's thread pool costs more than the operation itself,
 * and a container start does dozens of them.
 */
export const nodeCgroupFs: CgroupFs = {
  async write(path, value) {
    // never O_CREAT: a missing control file means the controller is absent, which must be an error
    const fd = openSync(path, constants.O_WRONLY | constants.O_TRUNC);
    try {
      writeSync(fd, value);
    } finally {
      closeSync(fd);
    }
  },
  async read(path) {
    return readFileSync(path, 'utf8');
  },
  async exists(path) {
    return existsSync(path);
  },
  async mkdir(path) {
    mkdirSync(path);
  },
  async rmdir(path) {
    rmdirSync(path);
  },
  async children(path) {
    try {
      return readdirSync(path, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => e.name);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw err;
    }
  },
};

/** Write a control file, turning the kernel's terse errno into one actionable line (errno kept as cause). */
export async function writeControl(fs: CgroupFs, path: string, value: string | number): Promise<void> {
  try {
    await fs.write(path, String(value));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    const hint =
      code === 'EBUSY'
        ? ' (the container uses more than that already, or another limit conflicts)'
        : code === 'EINVAL'
          ? ' (value out of range or inconsistent with another limit)'
          : code === 'ENOENT'
            ? ' (controller not enabled for this cgroup)'
            : '';
    throw new TvctlError('CGROUP_WRITE', `cannot write "${value}" to ${path}: ${code}${hint}`, { cause: err });
  }
}

export async function readOptional(fs: CgroupFs, path: string): Promise<string | null> {
  try {
    return await fs.read(path);
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENODEV')) return null;
    throw err;
  }
}

/** `key value` lines (memory.stat, memory.events, cpu.stat, memory.oom_control) → map. */
export function parseKeyValues(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^-?\d+$/.test(v)) out.set(k, Number(v));
  }
  return out;
}

export function parsePids(text: string | null): number[] {
  if (!text) return [];
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^\d+$/.test(l))
    .map(Number);
}

/** "max" or a number; kernels print near-2^63 for unlimited v1 memory — treated as unlimited. */
export function parseLimitValue(text: string | null): number | null {
  if (text === null) return null;
  const t = text.trim();
  if (t === '' || t === 'max' || t === '-1') return null;
  const n = Number(t);
  if (!Number.isFinite(n) || n >= 2 ** 60) return null;
  return n;
}

/** Ids become directory names: refuse anything that could walk out of the tvctl parent. */
export function checkId(id: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(id)) {
    throw new TvctlError('BAD_ID', `invalid container id for a cgroup: "${id}"`);
  }
}

/** `dir` and every cgroup below it, parents before children (a container may have made sub-cgroups). */
export async function subtree(fs: CgroupFs, dir: string): Promise<string[]> {
  const out = [dir];
  for (let i = 0; i < out.length; i++) {
    for (const c of await fs.children(out[i]!)) out.push(`${out[i]}/${c}`);
  }
  return out;
}

/** rmdir with retries: the kernel keeps a cgroup busy for a moment after its last task exits. */
export async function removeDir(fs: CgroupFs, dir: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await fs.rmdir(dir);
      return;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      if (!isErrno(err, 'EBUSY') || Date.now() > deadline) {
        throw new TvctlError('CGROUP_REMOVE', `cannot remove cgroup ${dir}: ${errorMessage(err)}`, { cause: err });
      }
      await sleep(20);
    }
  }
}

/**
 * Removes the shared `tvctl` parent once no container cgroup is left under it, so an idle host keeps no
 * trace of tvctl. Busy (another container, or one being created) is fine: it stays.
 */
export async function removeParentIfEmpty(fs: CgroupFs, dir: string): Promise<void> {
  try {
    await fs.rmdir(dir);
  } catch (err) {
    if (!isErrno(err, 'EBUSY') && !isErrno(err, 'ENOTEMPTY') && !isErrno(err, 'ENOENT')) throw err;
  }
}

/** mkdir of a container cgroup; when a concurrent destroy just removed the empty parent, make it again once. */
export async function mkdirUnderParent(fs: CgroupFs, dir: string, ensureParent: () => Promise<void>): Promise<void> {
  try {
    await fs.mkdir(dir);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
    await ensureParent();
    await fs.mkdir(dir);
  }
}

/**
 * SIGKILL every task listed in `procsFiles` until they are all gone. `freeze`/`thaw` (when given) stop the
 * tasks first so a fork bomb cannot outrun the kill loop.
 */
export async function killAll(
  fs: CgroupFs,
  procsFiles: string[],
  hooks: { freeze?: () => Promise<void>; thaw?: () => Promise<void> } = {},
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pids = new Set<number>();
    for (const text of await Promise.all(procsFiles.map((f) => readOptional(fs, f))))
      for (const p of parsePids(text)) pids.add(p);
    if (pids.size === 0) return;
    if (Date.now() > deadline) {
      throw new TvctlError(
        'CGROUP_KILL',
        `tasks ${[...pids].slice(0, 5).join(', ')} survived SIGKILL in ${procsFiles[0] ?? ''}`,
      );
    }
    if (hooks.freeze) await hooks.freeze().catch(() => undefined);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (hooks.thaw) await hooks.thaw().catch(() => undefined);
    await sleep(15);
  }
}
