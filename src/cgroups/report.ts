/**
 * Pure pieces of `tvctl stats`: Docker's columns, units and percentages, computed from two CgroupStats
 * samples. No I/O here, so unit tests check the numbers and the formatting directly.
 */
import type { CgroupStats } from './types.js';
import { binaryBytes, decimalBytes } from '../util/units.js';

export interface StatsRow {
  id: string;
  name: string;
  /** percent of one CPU (200 = two CPUs busy), as Docker */
  cpuPercent: number;
  memoryUsageBytes: number;
  /** the cgroup limit, or the host's memory when unlimited (as Docker shows it) */
  memoryLimitBytes: number;
  memoryPercent: number;
  /** null when the container has no network namespace of its own (host network) */
  netRxBytes: number | null;
  netTxBytes: number | null;
  blockReadBytes: number | null;
  blockWriteBytes: number | null;
  pids: number;
}

/** CPU time used between two samples over the wall time between them, in percent of one CPU. */
export function cpuPercent(prevCpuNs: number, curCpuNs: number, wallNs: number): number {
  if (wallNs <= 0 || curCpuNs < prevCpuNs) return 0;
  return ((curCpuNs - prevCpuNs) / wallNs) * 100;
}

export function buildStatsRow(
  c: { id: string; name: string },
  prev: CgroupStats | null,
  cur: CgroupStats | null,
  wallNs: number,
  hostMemoryBytes: number,
  net: { rx: number; tx: number } | null,
): StatsRow {
  const limit = cur?.memoryLimitBytes ?? null;
  const memLimit = limit === null || limit > hostMemoryBytes ? hostMemoryBytes : limit;
  const usage = cur?.memoryUsageBytes ?? 0;
  return {
    id: c.id,
    name: c.name,
    cpuPercent: prev && cur ? cpuPercent(prev.cpuUsageNs, cur.cpuUsageNs, wallNs) : 0,
    memoryUsageBytes: usage,
    memoryLimitBytes: memLimit,
    memoryPercent: memLimit > 0 ? (usage / memLimit) * 100 : 0,
    netRxBytes: net?.rx ?? null,
    netTxBytes: net?.tx ?? null,
    blockReadBytes: cur?.blockReadBytes ?? null,
    blockWriteBytes: cur?.blockWriteBytes ?? null,
    pids: cur?.pidsCurrent ?? 0,
  };
}

/** /proc/<pid>/net/dev of the container's init: bytes over every interface but lo. */
export function parseNetDev(text: string): { rx: number; tx: number } {
  let rx = 0;
  let tx = 0;
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const iface = line.slice(0, colon).trim();
    if (iface === 'lo' || iface === '') continue;
    const f = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    if (f.length < 9) continue;
    rx += f[0] ?? 0;
    tx += f[8] ?? 0;
  }
  return { rx, tx };
}

export const STATS_HEADERS = [
  'CONTAINER ID',
  'NAME',
  'CPU %',
  'MEM USAGE / LIMIT',
  'MEM %',
  'NET I/O',
  'BLOCK I/O',
  'PIDS',
] as const;

export function formatStatsCells(r: StatsRow, idWidth = 12): string[] {
  const pair = (a: number | null, b: number | null): string =>
    a === null || b === null ? '--' : `${decimalBytes(a)} / ${decimalBytes(b)}`;
  return [
    r.id.slice(0, idWidth),
    r.name,
    `${r.cpuPercent.toFixed(2)}%`,
    `${binaryBytes(r.memoryUsageBytes)} / ${binaryBytes(r.memoryLimitBytes)}`,
    `${r.memoryPercent.toFixed(2)}%`,
    pair(r.netRxBytes, r.netTxBytes),
    pair(r.blockReadBytes, r.blockWriteBytes),
    String(r.pids),
  ];
}
