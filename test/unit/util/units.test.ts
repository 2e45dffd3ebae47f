import { describe, expect, it } from 'vitest';
import { binaryBytes, decimalBytes, humanAgo, humanDuration } from '../../../src/util/units.js';

const S = 1000;
const H = 3600 * S;

describe("Docker's units", () => {
  it('humanDuration follows go-units to the letter (truncating seconds and minutes, rounding hours)', () => {
    expect(humanDuration(400)).toBe('Less than a second');
    expect(humanDuration(1 * S)).toBe('1 second');
    expect(humanDuration(1.9 * S)).toBe('1 second');
    expect(humanDuration(59.9 * S)).toBe('59 seconds');
    expect(humanDuration(60 * S)).toBe('About a minute');
    expect(humanDuration(119 * S)).toBe('About a minute');
    expect(humanDuration(59 * 60 * S)).toBe('59 minutes');
    expect(humanDuration(90 * 60 * S)).toBe('2 hours');
    expect(humanDuration(47 * H)).toBe('47 hours');
    expect(humanDuration(13 * 24 * H)).toBe('13 days');
    expect(humanDuration(20 * 24 * H)).toBe('2 weeks');
    expect(humanDuration(90 * 24 * H)).toBe('3 months');
    expect(humanDuration(800 * 24 * H)).toBe('2 years');
    expect(humanDuration(-5 * S)).toBe('Less than a second');
  });

  it('humanAgo says "1 second ago", never "1 seconds ago", and N/A without a time', () => {
    const now = Date.parse('2026-01-01T00:00:10Z');
    expect(humanAgo('2026-01-01T00:00:09Z', now)).toBe('1 second ago');
    expect(humanAgo('2026-01-01T00:00:00Z', now)).toBe('10 seconds ago');
    expect(humanAgo(undefined, now)).toBe('N/A');
    expect(humanAgo('1970-01-01T00:00:00Z', now)).toBe('N/A');
  });

  it('sizes: decimal with 3 significant digits, binary with 4', () => {
    expect(decimalBytes(999)).toBe('999B');
    expect(decimalBytes(1_982_449)).toBe('1.98MB');
    expect(decimalBytes(123_456_789)).toBe('123MB');
    expect(decimalBytes(5_600_000)).toBe('5.6MB');
    expect(binaryBytes(32 * 1024 * 1024)).toBe('32MiB');
    expect(binaryBytes(2_048_000)).toBe('1.953MiB');
    expect(binaryBytes(0)).toBe('0B');
    expect(binaryBytes(332 * 1024)).toBe('332KiB');
    expect(binaryBytes(25_276_502_016)).toBe('23.54GiB');
    expect(decimalBytes(648)).toBe('648B');
    expect(decimalBytes(1234)).toBe('1.23kB');
    expect(decimalBytes(12_345_678)).toBe('12.3MB');
  });
});
