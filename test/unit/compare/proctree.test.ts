import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  childrenOf,
  memoryCost,
  parseChildrenCpu,
  parseStatus,
  ProcessTreeSampler,
} from '../../../src/compare/proctree.js';

describe('process tree sampling', () => {
  it('parseStatus reads Name and VmHWM, and skips kernel threads', () => {
    expect(parseStatus('Name:\tqemu-system-x86\nState:\tS\nVmHWM:\t  312344 kB\nVmRSS:\t 300000 kB\n')).toEqual({
      name: 'qemu-system-x86',
      hwmKiB: 312344,
    });
    expect(parseStatus('Name:\tkthreadd\nState:\tS\n')).toBeUndefined();
  });
  it('parseChildrenCpu counts fields after the last ")" (comm may hold spaces and parens)', () => {
    // fields: pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
    const stat = '123 (a (b) c) S 1 1 1 0 -1 0 0 0 0 0 5 6 250 31 20 0 1 0';
    expect(parseChildrenCpu(stat, 100)).toEqual({ userMs: 2500, sysMs: 310 });
  });
  it('memoryCost splits the tvctl process from what it started', () => {
    expect(
      memoryCost([
        { pid: 1, name: 'node', hwmKiB: 60000, depth: 0 },
        { pid: 2, name: 'tvinit', hwmKiB: 800, depth: 1 },
        { pid: 3, name: 'sh', hwmKiB: 700, depth: 2 },
      ]),
    ).toEqual({ totalKiB: 61500, cliKiB: 60000, startedKiB: 1500 });
  });
  it('samples a real tree: a shell and its sleeping child, with their own peaks', async () => {
    const child = spawn('sh', ['-c', 'sleep 2 & wait'], { stdio: 'ignore' });
    try {
      let kids: number[] = [];
      for (let i = 0; i < 100 && kids.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 10));
        kids = childrenOf(child.pid!);
      }
      expect(kids.length).toBe(1);
      const s = new ProcessTreeSampler(child.pid!);
      s.sample();
      s.sample();
      const peaks = s.result();
      expect(peaks.map((p) => [p.name, p.depth])).toEqual([
        ['sh', 0],
        ['sleep', 1],
      ]);
      for (const p of peaks) expect(p.hwmKiB).toBeGreaterThan(100);
      expect(s.samples).toBe(2);
    } finally {
      child.kill('SIGKILL');
    }
  });
  it('an exited root yields no peaks rather than an error', () => {
    const s = new ProcessTreeSampler(2 ** 22 + 12345);
    s.sample();
    expect(s.result()).toEqual([]);
  });
});
