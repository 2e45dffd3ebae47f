import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { modeExtraArgs } from '../../../src/compare/compare.js';
import { planModes } from '../../../src/compare/modes.js';
import {
  WORK_TIMES_ENV,
  byRung,
  computePhases,
  iterationsFor,
  parseWorkTimes,
  parseWorkloadLine,
  rungRank,
  workloadCommand,
} from '../../../src/compare/phases.js';
import { WORKLOAD_PATH } from '../../../src/vm/guest-protocol.js';
import { HOST } from './fixture.js';

const ms = (x: number): bigint => BigInt(Math.round(x * 1e6));

describe('the work-times line', () => {
  it('is parsed from the end of stderr and removed from it', () => {
    const w = parseWorkTimes('some error\n\n@@tvctl-work:1000:5000@@\n')!;
    expect(w.startNs).toBe(1000n);
    expect(w.endNs).toBe(5000n);
    expect(w.stderr).toBe('some error\n');
    expect(w.endOffset).toBe('some error\n\n@@tvctl-work:1000:5000@@\n'.length);
  });
  it('takes the last line, so a command printing one of its own cannot win', () => {
    const w = parseWorkTimes('@@tvctl-work:1:2@@\nmore\n@@tvctl-work:10:20@@\n')!;
    expect([w.startNs, w.endNs]).toEqual([10n, 20n]);
    expect(w.stderr).toBe('@@tvctl-work:1:2@@\nmore');
  });
  it('keeps nanosecond stamps exact beyond 2^53', () => {
    const w = parseWorkTimes('\n@@tvctl-work:9007199254740993:9007199254740995@@\n')!;
    expect(w.endNs - w.startNs).toBe(2n);
  });
  it('is absent without the line, or when the end is before the start', () => {
    expect(parseWorkTimes('hello\n')).toBeUndefined();
    expect(parseWorkTimes('@@tvctl-work:5:4@@\n')).toBeUndefined();
    expect(parseWorkTimes('@@tvctl-work:x:4@@\n')).toBeUndefined();
  });
  it('is what tvinit and the guest init write, behind the env both strip', () => {
    const root = join(import.meta.dirname, '../../..');
    const guest = readFileSync(join(root, 'native/guestinit/guestinit.c'), 'utf8');
    const tvinit = ['init.c', 'process.c'].map((f) => readFileSync(join(root, 'native/tvinit', f), 'utf8')).join('');
    for (const src of [guest, tvinit]) {
      expect(src).toContain('"\\n@@tvctl-work:%llu:%llu@@\\n"');
      expect(src).toContain(`"${WORK_TIMES_ENV}"`);
    }
  });
});

describe('phase arithmetic', () => {
  const spawnNs = ms(1000);
  it('a container: boot, work and teardown all on the host clock, summing to the total', () => {
    const p = computePhases({
      spawnNs,
      exitNs: ms(1300),
      work: { startNs: ms(1120), endNs: ms(1280) },
      lineAtNs: ms(1285),
      sameClock: true,
    });
    expect(p.totalMs).toBeCloseTo(300, 6);
    expect(p.bootMs).toBeCloseTo(120, 6);
    expect(p.workMs).toBeCloseTo(160, 6);
    expect(p.teardownMs).toBeCloseTo(20, 6);
    expect(p.bootMs! + p.workMs! + p.teardownMs!).toBeCloseTo(p.totalMs, 6);
    expect(p.how).toEqual({ boot: 'host clock', work: 'host clock', teardown: 'host clock' });
  });
  it('a VM: work in the guest clock, teardown from the line arrival, boot the remainder', () => {
    const p = computePhases({
      spawnNs,
      exitNs: ms(7000),
      // guest clock: started near 0 at the guest's boot
      work: { startNs: ms(5), endNs: ms(125) },
      lineAtNs: ms(6950),
      sameClock: false,
    });
    expect(p.totalMs).toBeCloseTo(6000, 6);
    expect(p.workMs).toBeCloseTo(120, 6);
    expect(p.teardownMs).toBeCloseTo(50, 6);
    expect(p.bootMs).toBeCloseTo(6000 - 120 - 50, 6);
    expect(p.how).toEqual({ boot: 'derived', work: 'mode clock', teardown: 'host clock' });
  });
  it('container stamps outside the run are not trusted as host times', () => {
    const p = computePhases({
      spawnNs,
      exitNs: ms(1300),
      work: { startNs: ms(10), endNs: ms(20) },
      lineAtNs: ms(1290),
      sameClock: true,
    });
    expect(p.how.boot).toBe('derived');
    expect(p.teardownMs).toBeCloseTo(10, 6);
    expect(p.bootMs).toBeCloseTo(280, 6);
  });
  it('without work times only the total is known; without the arrival, only total and work', () => {
    expect(computePhases({ spawnNs, exitNs: ms(1100), sameClock: false })).toEqual({ totalMs: 100, how: {} });
    const p = computePhases({ spawnNs, exitNs: ms(1100), work: { startNs: 0n, endNs: ms(5) }, sameClock: false });
    expect(p.workMs).toBeCloseTo(5, 6);
    expect(p.bootMs).toBeUndefined();
    expect(p.teardownMs).toBeUndefined();
  });
});

describe('the workload line', () => {
  it('parses the shape native/workload prints', () => {
    expect(parseWorkloadLine('workload syscall iterations=1000000 ns_per_op=186.53 total_ns=186526441\n')).toEqual({
      preset: 'syscall',
      iterations: 1000000,
      nsPerOp: 186.53,
      totalNs: 186526441,
    });
    expect(parseWorkloadLine('workload fork iterations=20 ns_per_op=134076\n')).toEqual({
      preset: 'fork',
      iterations: 20,
      nsPerOp: 134076,
    });
  });
  it('takes the last line and ignores lines of another shape', () => {
    const out =
      'noise\nworkload cpu iterations=1 ns_per_op=1.00 total_ns=1\nworkload cpu iterations=2 ns_per_op=3.50 total_ns=7\n';
    expect(parseWorkloadLine(out)?.iterations).toBe(2);
    expect(parseWorkloadLine('workload cpu iterations=x ns_per_op=1\n')).toBeUndefined();
    expect(parseWorkloadLine('  workload cpu iterations=1 ns_per_op=1\n')).toBeUndefined();
    expect(parseWorkloadLine('')).toBeUndefined();
  });
});

describe('rungs and workload arguments', () => {
  const plans = planModes(['container', 'kvm', 'qemu'], {
    engines: HOST.engines,
    vmRunBuilt: true,
    guestKernelInstalled: true,
  });
  it('orders modes interpreted → compiled → hardware-assisted → container, stable within a rung', () => {
    const interp = { plan: { id: 'bochs', kind: 'interpreted emulation' } };
    const sorted = byRung([...plans.map((plan) => ({ plan })), interp]).map((m) => m.plan.id);
    expect(sorted).toEqual(['bochs', 'qemu', 'kvm', 'container']);
    expect(rungRank('something new')).toBe(4);
  });
  it('emulated rungs run fewer iterations, never zero', () => {
    expect(iterationsFor('OS-level virtualization', 1000)).toBe(1000);
    expect(iterationsFor('hardware-assisted virtualization', 1000)).toBe(1000);
    expect(iterationsFor('compiled emulation', 1000)).toBe(100);
    expect(iterationsFor('interpreted emulation', 1000)).toBe(10);
    expect(iterationsFor('interpreted emulation', 5)).toBe(1);
  });
  it('every mode asks for work times; only a container binds the workload, read-only', () => {
    const [container, kvm] = plans;
    const wl = { workload: { preset: 'syscall' as const, iterations: 10 }, workloadBin: '/x/tvctl-workload' };
    expect(modeExtraArgs(container!, wl)).toEqual([
      '-e',
      WORK_TIMES_ENV,
      '-v',
      `/x/tvctl-workload:${WORKLOAD_PATH}:ro`,
    ]);
    expect(modeExtraArgs(kvm!, wl)).toEqual(['-e', WORK_TIMES_ENV]);
    expect(modeExtraArgs(container!, {})).toEqual(['-e', WORK_TIMES_ENV]);
    expect(workloadCommand('file', 7)).toEqual([WORKLOAD_PATH, 'file', '-n', '7']);
  });
});
