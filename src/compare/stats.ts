/** Summary statistics over raw samples. Pure. */

export interface Summary {
  n: number;
  median: number;
  /** nearest-rank 95th percentile (with 5 samples this is the maximum) */
  p95: number;
  min: number;
  max: number;
  mean: number;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Nearest-rank percentile: the smallest sample with at least p% of the samples at or below it. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * s.length));
  return s[Math.min(s.length, rank) - 1]!;
}

/** Lower and upper quartiles (median of each half, the Tukey hinges) for box plots. */
export function quartiles(xs: readonly number[]): { q1: number; q3: number } {
  if (xs.length === 0) return { q1: NaN, q3: NaN };
  const s = [...xs].sort((a, b) => a - b);
  const half = s.length >> 1;
  const lower = s.slice(0, s.length % 2 ? half + 1 : half);
  const upper = s.slice(half);
  return { q1: median(lower), q3: median(upper) };
}

export function summarize(xs: readonly number[]): Summary {
  if (xs.length === 0) return { n: 0, median: NaN, p95: NaN, min: NaN, max: NaN, mean: NaN };
  return {
    n: xs.length,
    median: median(xs),
    p95: percentile(xs, 95),
    min: Math.min(...xs),
    max: Math.max(...xs),
    mean: xs.reduce((a, b) => a + b, 0) / xs.length,
  };
}

/** value / base, or undefined when either is missing or the base is zero. */
export function ratio(value: number | undefined, base: number | undefined): number | undefined {
  if (value === undefined || base === undefined || !Number.isFinite(value) || !Number.isFinite(base) || base === 0)
    return undefined;
  return value / base;
}

export function formatRatio(r: number | undefined): string {
  if (r === undefined) return '-';
  return r >= 10 ? `${r.toFixed(0)}x` : `${r.toFixed(r >= 1.995 ? 1 : 2)}x`;
}

export function formatMs(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '-';
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  return `${ms.toFixed(1)} ms`;
}

export function formatKiB(kib: number | undefined): string {
  if (kib === undefined || !Number.isFinite(kib)) return '-';
  if (kib >= 1024 * 1024) return `${(kib / 1024 / 1024).toFixed(2)} GiB`;
  if (kib >= 1024) return `${(kib / 1024).toFixed(1)} MiB`;
  return `${kib.toFixed(0)} KiB`;
}
