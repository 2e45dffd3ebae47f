import { describe, expect, it } from 'vitest';
import { mergeLimitUpdate } from '../../../src/cgroups/merge.js';
import { buildStatsRow, cpuPercent, formatStatsCells, parseNetDev } from '../../../src/cgroups/report.js';
import { parseLimits } from '../../../src/cgroups/limits.js';
import type { CgroupStats } from '../../../src/cgroups/types.js';

const MiB = 1024 * 1024;
const sample = (over: Partial<CgroupStats> = {}): CgroupStats => ({
  cpuUsageNs: 0,
  memoryUsageBytes: 0,
  memoryLimitBytes: null,
  pidsCurrent: 0,
  pidsLimit: null,
  blockReadBytes: 0,
  blockWriteBytes: 0,
  ...over,
});

describe('stats report', () => {
  it('cpu percent is cpu time over wall time, 100 = one CPU', () => {
    expect(cpuPercent(1e9, 1.5e9, 1e9)).toBeCloseTo(50);
    expect(cpuPercent(0, 4e9, 2e9)).toBeCloseTo(200);
    expect(cpuPercent(5, 1, 1e9)).toBe(0); // counter reset (container restarted)
    expect(cpuPercent(0, 1, 0)).toBe(0);
  });

  it('builds a row: unlimited memory shows the host total; I/O pairs; pids', () => {
    const host = 8 * 1024 * MiB;
    const row = buildStatsRow(
      { id: 'a'.repeat(64), name: 'web' },
      sample({ cpuUsageNs: 1e9 }),
      sample({
        cpuUsageNs: 1.25e9,
        memoryUsageBytes: 16 * MiB,
        memoryLimitBytes: 32 * MiB,
        pidsCurrent: 7,
        blockReadBytes: 4096,
        blockWriteBytes: 0,
      }),
      1e9,
      host,
      { rx: 1234, tx: 648 },
    );
    expect(row.cpuPercent).toBeCloseTo(25);
    expect(row.memoryPercent).toBeCloseTo(50);
    expect(formatStatsCells(row)).toEqual([
      'aaaaaaaaaaaa',
      'web',
      '25.00%',
      '16MiB / 32MiB',
      '50.00%',
      '1.23kB / 648B',
      '4.1kB / 0B',
      '7',
    ]);
    const unlimited = buildStatsRow({ id: 'b', name: 'x' }, null, sample({ memoryUsageBytes: MiB }), 1e9, host, null);
    expect(unlimited.memoryLimitBytes).toBe(host);
    expect(unlimited.cpuPercent).toBe(0);
    expect(formatStatsCells(unlimited)[5]).toBe('--');
    const stopped = buildStatsRow({ id: 'c', name: 'y' }, null, null, 1e9, host, null);
    expect(formatStatsCells(stopped).slice(2)).toEqual(['0.00%', '0B / 8GiB', '0.00%', '--', '--', '0']);
  });

  it('sums /proc/<pid>/net/dev over every interface but lo', () => {
    const text = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:  999999      10    0    0    0     0          0         0   999999      10    0    0    0     0       0          0
  eth0:    1500      12    0    0    0     0          0         0      700       9    0    0    0     0       0          0
  eth1:     500       2    0    0    0     0          0         0      300       1    0    0    0     0       0          0
`;
    expect(parseNetDev(text)).toEqual({ rx: 2000, tx: 1000 });
  });
});

describe('update merge (Docker rules)', () => {
  const running = parseLimits({ memory: '32m', pidsLimit: 50, cpus: '0.5' }, { hostCpus: 2 }); // memsw 64m

  it('merges only what changes', () => {
    expect(mergeLimitUpdate(running, parseLimits({ pidsLimit: 20 }, { forUpdate: true }))).toEqual({
      ...running,
      pidsLimit: 20,
    });
    expect(mergeLimitUpdate(running, parseLimits({ memory: '48m' }, { forUpdate: true })).memory).toBe(48 * MiB);
  });

  it('refuses a memory limit above the recorded swap total unless the swap changes too', () => {
    expect(() => mergeLimitUpdate(running, parseLimits({ memory: '128m' }, { forUpdate: true }))).toThrow(
      /update --memory-swap at the same time/,
    );
    expect(
      mergeLimitUpdate(running, parseLimits({ memory: '128m', memorySwap: '256m' }, { forUpdate: true })),
    ).toMatchObject({
      memory: 128 * MiB,
      memorySwap: 256 * MiB,
    });
    expect(() => mergeLimitUpdate(running, parseLimits({ memorySwap: '16m' }, { forUpdate: true }))).toThrow(
      /larger than the memory limit/,
    );
    expect(() => mergeLimitUpdate({}, parseLimits({ memorySwap: '64m' }, { forUpdate: true }))).toThrow(
      /always set the memory limit/,
    );
    expect(() => mergeLimitUpdate(running, parseLimits({ memoryReservation: '48m' }, { forUpdate: true }))).toThrow(
      /reservation/,
    );
  });

  it('--cpus 0 removes the quota from the record', () => {
    const merged = mergeLimitUpdate(running, parseLimits({ cpus: '0' }, { forUpdate: true, hostCpus: 2 }));
    expect(merged.cpuQuota).toBeUndefined();
    expect(merged.cpuPeriod).toBeUndefined();
  });
});
