import { availableParallelism } from 'node:os';
import { TvctlError } from '../errors.js';
import type { CgroupLimits } from './types.js';

/** Flags as the CLI receives them (Docker's spelling and units). */
export interface LimitFlags {
  memory?: string;
  memorySwap?: string;
  memoryReservation?: string;
  cpus?: string;
  cpuShares?: number;
  cpusetCpus?: string;
  pidsLimit?: number;
}

/** Docker's kebab-case limit flags (as `run`, `create` and `update` parse them). */
export interface LimitCliFlags {
  memory?: string | undefined;
  'memory-swap'?: string | undefined;
  'memory-reservation'?: string | undefined;
  cpus?: string | undefined;
  'cpu-shares'?: number | undefined;
  'cpuset-cpus'?: string | undefined;
  'pids-limit'?: number | undefined;
}

/** Picks the limit flags that were given, in the shape `parseLimits` takes. */
export function limitFlagsFromCli(f: LimitCliFlags): LimitFlags {
  const out: LimitFlags = {};
  if (f.memory !== undefined) out.memory = f.memory;
  if (f['memory-swap'] !== undefined) out.memorySwap = f['memory-swap'];
  if (f['memory-reservation'] !== undefined) out.memoryReservation = f['memory-reservation'];
  if (f.cpus !== undefined) out.cpus = f.cpus;
  if (f['cpu-shares'] !== undefined) out.cpuShares = f['cpu-shares'];
  if (f['cpuset-cpus'] !== undefined) out.cpusetCpus = f['cpuset-cpus'];
  if (f['pids-limit'] !== undefined) out.pidsLimit = f['pids-limit'];
  return out;
}

const MIN_MEMORY = 6 * 1024 * 1024; // Docker's floor: below this a container cannot even start its init
export const CPU_PERIOD_DEFAULT = 100_000; // µs, as Docker/runc
export const CPU_SHARES_MIN = 2;
export const CPU_SHARES_MAX = 262_144;

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/** Docker's RAMInBytes: "32m", "1.5g", "512k", "100", "64MB", "1GiB" — binary units, case-insensitive. */
export function parseBytes(value: string, flag = 'memory'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([bkmgtp]?)(?:i?b)?\s*$/i.exec(value);
  if (!m) {
    throw new TvctlError(
      'BAD_LIMIT',
      `invalid --${flag} value "${value}": use a number with an optional unit b, k, m or g (e.g. 32m)`,
    );
  }
  const unit = UNITS[(m[2] ?? '').toLowerCase()] ?? 1;
  const bytes = Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(bytes)) throw new TvctlError('BAD_LIMIT', `--${flag} value "${value}" is too large`);
  return bytes;
}

/** Parse a cpu list ("0-2,5") into sorted unique cpu numbers; throws on bad syntax. */
export function parseCpuList(list: string): number[] {
  const out = new Set<number>();
  const parts = list.trim().split(',');
  for (const part of parts) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new TvctlError('BAD_LIMIT', `invalid --cpuset-cpus "${list}": use a list such as 0-2,5`);
    const lo = Number(m[1]);
    const hi = m[2] !== undefined ? Number(m[2]) : lo;
    if (hi < lo) throw new TvctlError('BAD_LIMIT', `invalid --cpuset-cpus "${list}": range ${part} is backwards`);
    for (let c = lo; c <= hi; c++) out.add(c);
  }
  return [...out].sort((a, b) => a - b);
}

/**
 * v1 cpu.shares [2..262144] → v2 cpu.weight [1..10000], the conversion runc and crun use: a curve through the
 * three fixed points min→min, default 1024→default 100, max→max, so an unset-looking `--cpu-shares 1024` keeps
 * the v2 default. A straight line (1 + (shares-2)*9999/262142) would map 1024 to 39 and starve containers next
 * to default-weight services.
 */
export function sharesToWeight(shares: number): number {
  if (shares === 0) return 0;
  if (shares <= CPU_SHARES_MIN) return 1;
  if (shares >= CPU_SHARES_MAX) return 10_000;
  const l = Math.log2(shares);
  return Math.ceil(10 ** ((l * l + 125 * l) / 612 - 7 / 34));
}

/** `--cpus 1.5` → quota 150000 µs per 100000 µs period (Docker's NanoCPUs path). */
export function cpusToQuota(cpus: number, period = CPU_PERIOD_DEFAULT): number {
  return Math.round(cpus * period);
}

/**
 * Turn Docker-style flags into validated kernel limits, with Docker's semantics:
 * `--memory-swap` is memory+swap (-1 = unlimited swap; unset with -m = twice the memory, as dockerd does),
 * `--cpus` becomes quota/period, `--pids-limit` 0 or negative = unlimited, shares clamped to [2, 262144].
 * `forUpdate` skips the defaults that only apply at creation (the swap doubling).
 */
export function parseLimits(flags: LimitFlags, opts: { forUpdate?: boolean; hostCpus?: number } = {}): CgroupLimits {
  const limits: CgroupLimits = {};
  const hostCpus = opts.hostCpus ?? availableParallelism();

  if (flags.memory !== undefined) {
    const mem = parseBytes(flags.memory, 'memory');
    if (mem !== 0 && mem < MIN_MEMORY)
      throw new TvctlError('BAD_LIMIT', 'minimum memory limit allowed is 6MB (--memory)');
    if (mem > 0) limits.memory = mem;
  }
  if (flags.memorySwap !== undefined) {
    const s = flags.memorySwap.trim();
    const swap = s === '-1' ? -1 : parseBytes(s, 'memory-swap');
    if (swap > 0 || swap === -1) {
      if (limits.memory === undefined && !opts.forUpdate) {
        throw new TvctlError('BAD_LIMIT', 'you should always set the memory limit (-m) when using --memory-swap');
      }
      if (swap > 0 && limits.memory !== undefined && swap < limits.memory) {
        throw new TvctlError('BAD_LIMIT', 'minimum --memory-swap limit should be larger than the memory limit (-m)');
      }
      limits.memorySwap = swap;
    }
  }
  if (limits.memory !== undefined && limits.memorySwap === undefined && !opts.forUpdate) {
    limits.memorySwap = limits.memory * 2;
  }
  if (flags.memoryReservation !== undefined) {
    const res = parseBytes(flags.memoryReservation, 'memory-reservation');
    if (res !== 0 && res < MIN_MEMORY) {
      throw new TvctlError('BAD_LIMIT', 'minimum memory reservation allowed is 6MB (--memory-reservation)');
    }
    if (res > 0 && limits.memory !== undefined && res > limits.memory) {
      throw new TvctlError(
        'BAD_LIMIT',
        'the memory limit (-m) can not be less than the memory reservation limit (--memory-reservation)',
      );
    }
    if (res > 0) limits.memoryReservation = res;
  }

  if (flags.cpus !== undefined) {
    const text = flags.cpus.trim();
    const cpus = /^\d+(\.\d+)?$|^\.\d+$/.test(text) ? Number(text) : NaN;
    if (!Number.isFinite(cpus))
      throw new TvctlError('BAD_LIMIT', `invalid --cpus "${flags.cpus}": use a number such as 0.5`);
    if (cpus !== 0) {
      if (cpus < 0.01 || cpus > hostCpus) {
        throw new TvctlError(
          'BAD_LIMIT',
          `range of CPUs is from 0.01 to ${hostCpus}.00, as there are only ${hostCpus} CPUs available (--cpus)`,
        );
      }
      limits.cpuPeriod = CPU_PERIOD_DEFAULT;
      limits.cpuQuota = cpusToQuota(cpus);
    } else if (opts.forUpdate) {
      limits.cpuQuota = -1; // `update --cpus 0` lifts the limit
    }
  }
  if (flags.cpuShares !== undefined) {
    if (!Number.isInteger(flags.cpuShares) || flags.cpuShares < 0) {
      throw new TvctlError(
        'BAD_LIMIT',
        `invalid --cpu-shares ${flags.cpuShares}: use a positive integer (default 1024)`,
      );
    }
    if (flags.cpuShares > 0) {
      limits.cpuShares = Math.min(CPU_SHARES_MAX, Math.max(CPU_SHARES_MIN, flags.cpuShares));
    }
  }
  if (flags.cpusetCpus !== undefined && flags.cpusetCpus.trim() !== '') {
    const cpus = parseCpuList(flags.cpusetCpus);
    const bad = cpus.filter((c) => c >= hostCpus);
    if (bad.length > 0) {
      throw new TvctlError(
        'BAD_LIMIT',
        `requested CPUs are not available - requested ${flags.cpusetCpus}, available: 0-${hostCpus - 1}`,
      );
    }
    limits.cpusetCpus = flags.cpusetCpus.trim();
  }
  if (flags.pidsLimit !== undefined) {
    if (!Number.isInteger(flags.pidsLimit))
      throw new TvctlError('BAD_LIMIT', `invalid --pids-limit ${flags.pidsLimit}: use an integer`);
    limits.pidsLimit = flags.pidsLimit > 0 ? flags.pidsLimit : -1;
  }
  return limits;
}
