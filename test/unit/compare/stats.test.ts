import { describe, expect, it } from 'vitest';
import {
  formatKiB,
  formatMs,
  formatRatio,
  median,
  percentile,
  quartiles,
  ratio,
  summarize,
} from '../../../src/compare/stats.js';

describe('stats', () => {
  it('median of odd and even counts, unsorted input', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });
  it('nearest-rank percentile', () => {
    const xs = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
    expect(percentile(xs, 95)).toBe(100);
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 10)).toBe(10);
    expect(percentile([7], 95)).toBe(7);
    // 20 samples: the 19th is the p95
    expect(
      percentile(
        Array.from({ length: 20 }, (_, i) => i + 1),
        95,
      ),
    ).toBe(19);
  });
  it('quartiles are the Tukey hinges', () => {
    expect(quartiles([1, 2, 3, 4, 5])).toEqual({ q1: 2, q3: 4 });
    expect(quartiles([1, 2, 3, 4])).toEqual({ q1: 1.5, q3: 3.5 });
  });
  it('summarize', () => {
    expect(summarize([3, 1, 2])).toEqual({ n: 3, median: 2, p95: 3, min: 1, max: 3, mean: 2 });
    expect(summarize([]).n).toBe(0);
  });
  it('ratio refuses missing or zero bases', () => {
    expect(ratio(30, 10)).toBe(3);
    expect(ratio(30, 0)).toBeUndefined();
    expect(ratio(undefined, 10)).toBeUndefined();
    expect(ratio(NaN, 10)).toBeUndefined();
  });
  it('formats', () => {
    expect(formatRatio(1)).toBe('1.00x');
    expect(formatRatio(2.5)).toBe('2.5x');
    expect(formatRatio(123.4)).toBe('123x');
    expect(formatRatio(undefined)).toBe('-');
    expect(formatMs(12.34)).toBe('12.3 ms');
    expect(formatMs(345.6)).toBe('346 ms');
    expect(formatMs(2345)).toBe('2.35 s');
    expect(formatMs(23456)).toBe('23.5 s');
    expect(formatKiB(512)).toBe('512 KiB');
    expect(formatKiB(65536)).toBe('64.0 MiB');
    expect(formatKiB(3 * 1024 * 1024)).toBe('3.00 GiB');
  });
});
