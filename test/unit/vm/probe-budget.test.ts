/**
 * The emulation-aware time budgets (src/vm/probe.ts): the factor a calibration means, that it only scales up
 * and is capped, that the larger of the two ratios decides, the override, and that the measurement itself
 * runs both workloads here.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  MAX_EMULATION_FACTOR,
  NATIVE_SPIN_MS,
  NATIVE_SYSCALL_MS,
  emulationFactor,
  emulationFactorFrom,
  measureCalibration,
  vmTimeBudgetMs,
} from '../../../src/vm/probe.js';

const work = mkdtempSync(join(tmpdir(), 'tvctl-budget-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
afterEach(() => {
  delete process.env['TVCTL_EMULATION_FACTOR'];
});

describe('emulationFactorFrom', () => {
  it('a machine at or above native speed keeps the native budget', () => {
    expect(emulationFactorFrom({ spinMs: NATIVE_SPIN_MS / 2, syscallMs: NATIVE_SYSCALL_MS / 3 })).toBe(1);
    expect(emulationFactorFrom({ spinMs: NATIVE_SPIN_MS, syscallMs: NATIVE_SYSCALL_MS })).toBe(1);
  });

  it('the larger ratio decides: system calls are what emulation makes dearest', () => {
    // what a TCG guest (the harness's L1) measured: the loop ~4x, the system calls ~15x
    expect(emulationFactorFrom({ spinMs: NATIVE_SPIN_MS * 4, syscallMs: NATIVE_SYSCALL_MS * 15 })).toBe(15);
    expect(emulationFactorFrom({ spinMs: NATIVE_SPIN_MS * 6, syscallMs: NATIVE_SYSCALL_MS * 2 })).toBe(6);
  });

  it('is capped, and a missing measurement counts as native', () => {
    expect(emulationFactorFrom({ spinMs: NATIVE_SPIN_MS * 1000, syscallMs: 0 })).toBe(MAX_EMULATION_FACTOR);
    expect(emulationFactorFrom({ spinMs: Number.NaN, syscallMs: 0 })).toBe(1);
  });
});

describe('vmTimeBudgetMs', () => {
  it('scales a native budget by the factor', () => {
    expect(vmTimeBudgetMs(20_000, 1)).toBe(20_000);
    expect(vmTimeBudgetMs(20_000, 13.5)).toBe(270_000);
  });

  it('$TVCTL_EMULATION_FACTOR overrides the measurement; nonsense is ignored', () => {
    process.env['TVCTL_EMULATION_FACTOR'] = '7';
    expect(emulationFactor()).toBe(7);
    expect(vmTimeBudgetMs(1000)).toBe(7000);
    process.env['TVCTL_EMULATION_FACTOR'] = '0.1';
    const measured = emulationFactor();
    expect(measured).toBeGreaterThanOrEqual(1);
    expect(measured).toBeLessThanOrEqual(MAX_EMULATION_FACTOR);
  });
});

describe('measureCalibration', () => {
  it('times the loop and the system calls', () => {
    const c = measureCalibration('/proc', 1);
    expect(c.spinMs).toBeGreaterThan(0);
    expect(c.syscallMs).toBeGreaterThan(0);
  });

  it('without /proc the loop alone decides', () => {
    const proc = join(work, 'proc');
    mkdirSync(proc);
    const c = measureCalibration(proc, 1);
    expect(c.syscallMs).toBe(0);
    expect(c.spinMs).toBeGreaterThan(0);
  });
});
