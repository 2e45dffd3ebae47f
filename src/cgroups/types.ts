/** Container cgroups live at <hierarchy>/tvctl/<id>, away from the caller's own (possibly limited) cgroup. */
export const DEFAULT_PARENT = 'tvctl';

/** Which cgroup layout the host has: legacy v1 only, v1 controllers plus cgroup2 at /unified, or pure v2. */
export type CgroupMode = 'v1' | 'hybrid' | 'v2';

/**
 * Resource limits in kernel units, already validated (see `parseLimits`). `undefined` = leave as is
 * (on create: kernel default, i.e. unlimited). `-1` for memorySwap / pidsLimit means explicitly unlimited.
 */
export interface CgroupLimits {
  /** bytes (memory.max / memory.limit_in_bytes) */
  memory?: number;
  /** memory + swap in bytes, Docker semantics; -1 = unlimited swap */
  memorySwap?: number;
  /** soft limit in bytes (memory.low / memory.soft_limit_in_bytes) */
  memoryReservation?: number;
  /** CFS quota in µs per period; -1 = unlimited */
  cpuQuota?: number;
  /** CFS period in µs */
  cpuPeriod?: number;
  /** v1 cpu.shares (2..262144); converted to cpu.weight on v2 */
  cpuShares?: number;
  /** cpu list such as "0-1,3" */
  cpusetCpus?: string;
  /** max tasks; -1 = unlimited */
  pidsLimit?: number;
}

/** What the container's first process needs to join its cgroups (done by the C supervisor before exec). */
export interface CgroupHandle {
  /** every cgroup.procs file the first process must write its own pid into */
  procsFiles: string[];
  /** memory.events (v2) / memory.oom_control (v1): files with an `oom_kill N` line */
  oomFiles: string[];
  /** every cgroup directory of this container, one per hierarchy */
  dirs: string[];
}

export interface CgroupStats {
  /** total CPU time consumed by the container's tasks, nanoseconds */
  cpuUsageNs: number;
  /** memory in use, page cache that can be dropped (inactive_file) excluded, as `docker stats` does */
  memoryUsageBytes: number;
  /** memory limit in bytes; null when unlimited */
  memoryLimitBytes: number | null;
  pidsCurrent: number;
  /** null when unlimited */
  pidsLimit: number | null;
  /** bytes read / written to block devices; null when the controller is not available */
  blockReadBytes: number | null;
  blockWriteBytes: number | null;
}

export interface CgroupManager {
  readonly mode: CgroupMode;
  /** Make the container's cgroup dirs and write limits and the device allowlist. Nothing joins. */
  create(id: string, limits: CgroupLimits): Promise<CgroupHandle>;
  /** Paths of an existing container's cgroups (no I/O). */
  open(id: string): CgroupHandle;
  /** Kill every remaining task, wait for them to go, remove every dir. Idempotent: missing is fine. */
  destroy(id: string): Promise<void>;
  /** Change the given limits on a live container; fields left undefined are untouched. */
  update(id: string, limits: CgroupLimits): Promise<void>;
  stats(id: string): Promise<CgroupStats>;
  /** true when the kernel OOM killer has killed a task in this container's cgroup */
  oomKilled(id: string): Promise<boolean>;
  /** host pids of every process in the container's cgroup, sorted */
  pids(id: string): Promise<number[]>;
  /** ids of every container cgroup under the tvctl parent in any hierarchy (to find orphans after a crash) */
  list(): Promise<string[]>;
}
