import { describe, expect, it } from 'vitest';
import { cpusToQuota, parseBytes, parseCpuList, parseLimits, sharesToWeight } from '../../../src/cgroups/index.js';
import { TvctlError } from '../../../src/errors.js';

const MiB = 1024 * 1024;

describe('parseBytes (Docker RAMInBytes)', () => {
  it.each([
    ['32m', 32 * MiB],
    ['32M', 32 * MiB],
    ['64MB', 64 * MiB],
    ['1g', 1024 * MiB],
    ['1GiB', 1024 * MiB],
    ['1.5g', 1536 * MiB],
    ['512k', 512 * 1024],
    ['100', 100],
    ['100b', 100],
  ])('%s → %d', (text, bytes) => {
    expect(parseBytes(text)).toBe(bytes);
  });

  it.each(['', 'm', '32x', '-5m', '1.2.3m', '32 mb extra'])('rejects %j', (text) => {
    expect(() => parseBytes(text)).toThrow(TvctlError);
  });
});

describe('parseLimits', () => {
  it('-m alone: swap total defaults to twice the memory, as dockerd does', () => {
    expect(parseLimits({ memory: '32m' })).toEqual({ memory: 32 * MiB, memorySwap: 64 * MiB });
  });

  it('--memory-swap is memory+swap, -1 is unlimited', () => {
    expect(parseLimits({ memory: '32m', memorySwap: '100m' })).toEqual({ memory: 32 * MiB, memorySwap: 100 * MiB });
    expect(parseLimits({ memory: '32m', memorySwap: '-1' })).toEqual({ memory: 32 * MiB, memorySwap: -1 });
    expect(parseLimits({ memory: '32m', memorySwap: '32m' }).memorySwap).toBe(32 * MiB);
  });

  it('update does not invent a swap limit', () => {
    expect(parseLimits({ memory: '64m' }, { forUpdate: true })).toEqual({ memory: 64 * MiB });
  });

  it.each([
    [{ memory: '4m' }, /minimum memory limit allowed is 6MB/],
    [{ memory: '32m', memorySwap: '16m' }, /memory-swap limit should be larger than the memory limit/],
    [{ memorySwap: '64m' }, /always set the memory limit/],
    [{ memory: '32m', memoryReservation: '64m' }, /can not be less than the memory reservation/],
    [{ memoryReservation: '1m' }, /minimum memory reservation allowed is 6MB/],
    [{ cpus: 'abc' }, /invalid --cpus "abc"/],
    [{ cpus: '3' }, /range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available/],
    [{ cpus: '0.001' }, /range of CPUs/],
    [{ cpusetCpus: '0-1,3' }, /requested CPUs are not available - requested 0-1,3, available: 0-1/],
    [{ cpusetCpus: '1-0' }, /backwards/],
    [{ cpusetCpus: 'zero' }, /invalid --cpuset-cpus/],
    [{ cpuShares: -5 }, /invalid --cpu-shares/],
    [{ pidsLimit: 1.5 }, /invalid --pids-limit/],
  ])('rejects %j', (flags, msg) => {
    let caught: unknown;
    try {
      parseLimits(flags, { hostCpus: 2 });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(TvctlError);
    expect((caught as TvctlError).message).toMatch(msg);
    expect((caught as TvctlError).exitCode).toBe(125);
    expect((caught as TvctlError).code).toBe('BAD_LIMIT');
  });

  it('--cpus becomes quota/period with a 100 ms period', () => {
    expect(parseLimits({ cpus: '0.5' }, { hostCpus: 2 })).toEqual({ cpuQuota: 50_000, cpuPeriod: 100_000 });
    expect(parseLimits({ cpus: '1.25' }, { hostCpus: 2 })).toEqual({ cpuQuota: 125_000, cpuPeriod: 100_000 });
    expect(parseLimits({ cpus: '.01' }, { hostCpus: 2 })).toEqual({ cpuQuota: 1_000, cpuPeriod: 100_000 });
    expect(parseLimits({ cpus: '0' }, { hostCpus: 2 })).toEqual({});
    expect(parseLimits({ cpus: '0' }, { hostCpus: 2, forUpdate: true })).toEqual({ cpuQuota: -1 });
  });

  it('cpu shares clamp to the kernel range like Docker; pids 0/-1 mean unlimited', () => {
    expect(parseLimits({ cpuShares: 1 }).cpuShares).toBe(2);
    expect(parseLimits({ cpuShares: 10_000_000 }).cpuShares).toBe(262_144);
    expect(parseLimits({ cpuShares: 512 }).cpuShares).toBe(512);
    expect(parseLimits({ cpuShares: 0 }).cpuShares).toBeUndefined();
    expect(parseLimits({ pidsLimit: 50 }).pidsLimit).toBe(50);
    expect(parseLimits({ pidsLimit: 0 }).pidsLimit).toBe(-1);
    expect(parseLimits({ pidsLimit: -1 }).pidsLimit).toBe(-1);
  });

  it('cpuset lists are checked against the host', () => {
    expect(parseLimits({ cpusetCpus: '0' }, { hostCpus: 2 }).cpusetCpus).toBe('0');
    expect(parseLimits({ cpusetCpus: '0-3,5' }, { hostCpus: 8 }).cpusetCpus).toBe('0-3,5');
    expect(parseCpuList('3,0-2,2')).toEqual([0, 1, 2, 3]);
  });

  it('all flags together', () => {
    expect(
      parseLimits(
        {
          memory: '1g',
          memorySwap: '2g',
          memoryReservation: '512m',
          cpus: '1.5',
          cpuShares: 512,
          cpusetCpus: '0,1',
          pidsLimit: 100,
        },
        { hostCpus: 2 },
      ),
    ).toEqual({
      memory: 1024 * MiB,
      memorySwap: 2048 * MiB,
      memoryReservation: 512 * MiB,
      cpuQuota: 150_000,
      cpuPeriod: 100_000,
      cpuShares: 512,
      cpusetCpus: '0,1',
      pidsLimit: 100,
    });
  });
});

describe('conversions', () => {
  it('shares → weight as current runc: 2→1, 1024→100 (the v2 default), 262144→10000, monotonic', () => {
    expect(sharesToWeight(2)).toBe(1);
    expect(sharesToWeight(3)).toBe(2);
    expect(sharesToWeight(512)).toBe(59);
    expect(sharesToWeight(1024)).toBe(100);
    expect(sharesToWeight(2048)).toBe(174);
    expect(sharesToWeight(262_144)).toBe(10_000);
    expect(sharesToWeight(0)).toBe(0);
    let prev = 0;
    for (let s = 2; s <= 262_144; s += 97) {
      const w = sharesToWeight(s);
      expect(w).toBeGreaterThanOrEqual(prev);
      expect(w).toBeLessThanOrEqual(10_000);
      prev = w;
    }
  });

  it('cpus → quota', () => {
    expect(cpusToQuota(0.5)).toBe(50_000);
    expect(cpusToQuota(2, 50_000)).toBe(100_000);
  });
});
