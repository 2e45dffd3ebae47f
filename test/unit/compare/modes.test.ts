import { describe, expect, it } from 'vitest';
import { isTvctlFailure } from '../../../src/compare/compare.js';
import { parseEngines, planModes } from '../../../src/compare/modes.js';
import { fixtureResult, HOST } from './fixture.js';

describe('planModes', () => {
  it('keeps every requested mode, with the reason when it cannot run', () => {
    const plans = planModes(['container', 'kvm', 'qemu'], {
      engines: HOST.engines,
      vmRunBuilt: true,
      guestKernelInstalled: true,
    });
    expect(plans.map((p) => [p.id, p.available])).toEqual([
      ['container', true],
      ['kvm', false],
      ['qemu', true],
    ]);
    expect(plans[1]!.reason).toMatch(/^unavailable: software PVM/);
    expect(plans[0]!.tvctlArgs).toEqual(['run', '--rm', '--network', 'none']);
    expect(plans[2]!.tvctlArgs).toEqual(['vm', 'run', '--engine', 'qemu']);
    expect(plans[2]!.label).toBe('VM · QEMU TCG');
    expect(plans[2]!.kind).toBe('compiled emulation');
  });
  it('no vm run command or no guest kernel: VM modes unavailable, said why', () => {
    expect(
      planModes(['qemu'], { engines: HOST.engines, vmRunBuilt: false, guestKernelInstalled: true })[0]!.reason,
    ).toMatch(/no "tvctl vm run"/);
    expect(
      planModes(['qemu'], { engines: HOST.engines, vmRunBuilt: true, guestKernelInstalled: false })[0]!.reason,
    ).toMatch(/no guest kernel/);
  });
  it('hardware KVM makes the addon mode available', () => {
    const engines = HOST.engines.map((e) => (e.engine === 'kvm' ? { ...e, fullLinux: true, why: 'hardware' } : e));
    const [p] = planModes(['kvm'], { engines, vmRunBuilt: true, guestKernelInstalled: true });
    expect(p!.available).toBe(true);
    expect(p!.kind).toBe('hardware-assisted virtualization');
  });
  it('parseEngines', () => {
    expect(parseEngines('qemu, container,qemu')).toEqual(['qemu', 'container']);
    expect(() => parseEngines('docker')).toThrow(/unknown engine "docker"/);
    expect(() => parseEngines(',')).toThrow(/empty/);
  });
});

describe('finishModes', () => {
  it('summaries, ratios to the container and the output check', () => {
    const r = fixtureResult();
    const [c, k, q] = r.modes;
    expect(c!.wallMs!.median).toBe(310);
    expect(q!.wallMs!.median).toBe(3100);
    expect(q!.ratios!.wall).toBeCloseTo(10, 5);
    expect(c!.ratios!.wall).toBe(1);
    expect(q!.ratios!.prep).toBeCloseTo(3, 5);
    expect(q!.memKiB!.median).toBe(310000);
    expect(q!.cpuMs!.median).toBeCloseTo(3000, 5);
    expect(k!.wallMs).toBeUndefined();
    expect(r.outputIdentical).toBe(true);
    expect(q!.output!.consistent).toBe(true);
  });
  it('detects output that differs between modes', () => {
    expect(fixtureResult({ qemuStdout: 'hello\r\n' }).outputIdentical).toBe(false);
  });
  it('isTvctlFailure tells tvctl errors from a workload exiting 125', () => {
    expect(isTvctlFailure({ exitCode: 125, stderr: 'tvctl: image "x" not found' })).toBe(true);
    expect(isTvctlFailure({ exitCode: 125, stderr: 'my program failed' })).toBe(false);
    expect(isTvctlFailure({ exitCode: 3, stderr: 'tvctl: nope' })).toBe(false);
  });
});
