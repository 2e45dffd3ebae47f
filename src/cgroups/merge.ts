import { TvctlError } from '../errors.js';
import type { CgroupLimits } from './types.js';

/**
 * `tvctl update`: check a change against the limits a container already has (Docker's rules) and return
 * the merged limits to persist. `change` comes from parseLimits(flags, { forUpdate: true }).
 */
export function mergeLimitUpdate(current: CgroupLimits, change: CgroupLimits): CgroupLimits {
  const memory = change.memory ?? current.memory;
  const swapGiven = change.memorySwap !== undefined;
  if (
    change.memory !== undefined &&
    !swapGiven &&
    current.memorySwap !== undefined &&
    current.memorySwap > 0 &&
    change.memory > current.memorySwap
  ) {
    throw new TvctlError(
      'BAD_LIMIT',
      'memory limit should be smaller than the already set memory-swap limit; update --memory-swap at the same time',
    );
  }
  if (swapGiven && change.memorySwap! > 0) {
    if (memory === undefined)
      throw new TvctlError('BAD_LIMIT', 'you should always set the memory limit (-m) when using --memory-swap');
    if (change.memorySwap! < memory) {
      throw new TvctlError('BAD_LIMIT', 'minimum --memory-swap limit should be larger than the memory limit (-m)');
    }
  }
  const reservation = change.memoryReservation ?? current.memoryReservation;
  if (reservation !== undefined && memory !== undefined && reservation > memory) {
    throw new TvctlError(
      'BAD_LIMIT',
      'the memory limit (-m) can not be less than the memory reservation limit (--memory-reservation)',
    );
  }
  const merged: CgroupLimits = { ...current };
  for (const [k, v] of Object.entries(change) as Array<[keyof CgroupLimits, CgroupLimits[keyof CgroupLimits]]>) {
    if (v !== undefined) (merged as Record<string, unknown>)[k] = v;
  }
  // `--cpus 0` lifts the quota: record it as "no CPU limit", the state a fresh container has.
  if (merged.cpuQuota !== undefined && merged.cpuQuota < 0) {
    delete merged.cpuQuota;
    delete merged.cpuPeriod;
  }
  return merged;
}

export function isEmptyLimits(l: CgroupLimits): boolean {
  return Object.values(l).every((v) => v === undefined);
}
