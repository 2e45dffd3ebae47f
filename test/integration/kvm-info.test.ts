/** `tvctl info` on this host: the built CLI's JSON must agree with the facts the kernel shows. */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const REPO = resolve(import.meta.dirname, '../..');
const TVCTL = join(REPO, 'bin', 'tvctl');

describe('tvctl info', () => {
  it('--json reports the KVM kind from /sys/module and the engines that follow from it, each once', () => {
    const out = JSON.parse(execFileSync(TVCTL, ['info', '--json'], { encoding: 'utf8' }));
    const kvm = out.kvm;
    const expected = !existsSync('/dev/kvm')
      ? 'none'
      : existsSync('/sys/module/kvm_intel') || existsSync('/sys/module/kvm_amd')
        ? 'hardware'
        : existsSync('/sys/module/kvm_pvm')
          ? 'software-pvm'
          : // no vendor module visible: the CPU flags decide
            /^flags\s*:.*\b(vmx|svm)\b/m.test(readFileSync('/proc/cpuinfo', 'utf8'))
            ? 'hardware'
            : 'unknown';
    expect(kvm.kind).toBe(expected);
    // Inside scripts/kvm-harness.sh (TVCTL_REQUIRE_HARDWARE_KVM=1) the classification is checked on hardware KVM.
    if (process.env['TVCTL_REQUIRE_HARDWARE_KVM'] === '1') expect(kvm.kind).toBe('hardware');
    expect(kvm.device.present).toBe(existsSync('/dev/kvm'));
    if (kvm.device.accessible) expect(kvm.device.apiVersion).toBe(12);
    expect(out.kernel.release).toMatch(/^\d+\.\d+/);
    const engines = Object.fromEntries(out.engines.map((e: { engine: string }) => [e.engine, e]));
    // what the engine can boot; a missing guest kernel is reported as what it needs
    const fullLinux = (e: { fullLinux: boolean; needs?: string }): boolean => e.fullLinux || e.needs === 'guest-kernel';
    expect(fullLinux(engines['kvm'])).toBe(expected === 'hardware');
    if (expected === 'software-pvm') {
      expect(engines['kvm'].usable).toBe(true);
    }
    expect(out.engines.map((e: { engine: string }) => e.engine)).toEqual(['container', 'kvm', 'qemu', 'bochs']);
    if (engines['qemu'].usable) expect(engines['qemu'].accel).toBe(expected === 'hardware' ? 'kvm' : 'tcg');
  });

  it('prints a human summary', () => {
    const out = execFileSync(TVCTL, ['info'], { encoding: 'utf8' });
    expect(out).toMatch(/^KVM: +(hardware-assisted \(VT-x\/AMD-V\)|software \(PVM\)|none|unknown)$/m);
    expect(out).toMatch(/^VM engines:$/m);
    expect(out).toMatch(/^ {2}kvm /m);
    expect(out).toMatch(/^ {2}qemu /m);
  });
});
