import { describe, expect, it } from 'vitest';
import { guestCmdline } from '../../../src/vm/engine.js';
import { decodeGuestConfig, encodeGuestConfig } from '../../../src/vm/guest-protocol.js';
import {
  KVM_ALLOW_SOFTWARE_ENV,
  KVM_KERNEL_PARAMS,
  describeKvmStop,
  kvmEngineDecision,
} from '../../../src/vm/kvm-engine.js';
import type { KvmDeviceProbe } from '../../../src/vm/kvm.js';
import { assessVmEngines, classifyKvm, type KvmFacts } from '../../../src/vm/probe.js';

const device: KvmDeviceProbe = {
  devicePath: '/dev/kvm',
  present: true,
  accessible: true,
  errno: 0,
  apiVersion: 12,
  extensions: {},
};
const kvmAssessment = (modules: Partial<KvmFacts['modules']>, dev: Partial<KvmDeviceProbe> = {}) =>
  assessVmEngines(
    classifyKvm({
      device: { ...device, ...dev },
      probedWith: 'addon',
      modules: { kvm: true, kvmIntel: false, kvmAmd: false, kvmPvm: false, ...modules },
      cpuFlags: { vmx: false, svm: false, hypervisor: true },
    }),
    { addonBuilt: true, qemuBinary: '/usr/bin/qemu-system-x86_64' },
  )[0]!;

describe('kvmEngineDecision', () => {
  it('uses the addon on hardware-assisted KVM, override or not', () => {
    const a = kvmAssessment({ kvmIntel: true });
    expect(kvmEngineDecision(a, {})).toMatchObject({ use: true, hardware: true });
    expect(kvmEngineDecision(a, { [KVM_ALLOW_SOFTWARE_ENV]: '1' })).toMatchObject({ use: true, hardware: true });
  });

  it('refuses software PVM with the probe reason, unless the diagnostic override is exactly "1"', () => {
    const a = kvmAssessment({ kvmPvm: true });
    const refused = kvmEngineDecision(a, {});
    expect(refused).toEqual({ use: false, why: a.why });
    expect(refused.why).toMatch(/software \(PVM\)/);
    expect(kvmEngineDecision(a, { [KVM_ALLOW_SOFTWARE_ENV]: 'yes' }).use).toBe(false);
    const allowed = kvmEngineDecision(a, { [KVM_ALLOW_SOFTWARE_ENV]: '1' });
    expect(allowed).toMatchObject({ use: true, hardware: false });
    expect(allowed.why).toMatch(/diagnostic/);
  });

  it('never runs on a device it cannot use, even with the override', () => {
    const a = kvmAssessment({ kvmPvm: true }, { accessible: false, error: 'EACCES: permission denied' });
    expect(kvmEngineDecision(a, { [KVM_ALLOW_SOFTWARE_ENV]: '1' })).toEqual({ use: false, why: a.why });
    expect(a.why).toMatch(/permission denied/);
  });
});

describe('describeKvmStop', () => {
  const base = { rip: 0xffffffff81317850n, durationMs: 18_100 };
  it('names an unemulated instruction as such', () => {
    expect(
      describeKvmStop({
        ...base,
        reason: 'error',
        detail: 'KVM internal error, suberror 1 (instruction emulation failed)',
      }),
    ).toBe(
      'the guest died on an instruction this KVM does not emulate (KVM internal error, suberror 1 (instruction emulation failed); rip 0xffffffff81317850, after 18.1 s)',
    );
  });
  it('says what each other end means, on one line', () => {
    expect(describeKvmStop({ ...base, reason: 'shutdown' })).toMatch(/^the guest triple-faulted/);
    expect(describeKvmStop({ ...base, reason: 'hlt' })).toMatch(/^the guest halted with interrupts off/);
    expect(describeKvmStop({ ...base, reason: 'reset' })).toMatch(/^the guest reset the machine/);
    expect(describeKvmStop({ ...base, reason: 'timeout' }, 20_000)).toMatch(/^no result within 20 s/);
    expect(describeKvmStop({ ...base, reason: 'error', detail: 'KVM_RUN: EFAULT' })).toMatch(
      /^KVM error: KVM_RUN: EFAULT \(rip/,
    );
    for (const reason of ['error', 'shutdown', 'hlt', 'reset', 'timeout', 'cancelled', 'exit-port'] as const)
      expect(describeKvmStop({ ...base, reason })).not.toMatch(/\n/);
  });
});

describe('the kvm engine command line', () => {
  it('adds earlyprintk and the keyboard-controller reboot before the guest-init config, which stays last', () => {
    const cfg = encodeGuestConfig({ nonce: 'n1', hostname: 'h', cwd: '/', env: [], argv: ['true'] });
    const line = guestCmdline(cfg, true, KVM_KERNEL_PARAMS);
    expect(line).toBe(
      `console=ttyS0 loglevel=7 earlyprintk=ttyS0,115200 reboot=k panic=-1 cryptomgr.notests rdinit=/.tvctl-init -- ${cfg}`,
    );
    expect(decodeGuestConfig(line.split(' -- ')[1]!)).toEqual(['tvctl1', 'nn1', 'hh', 'w/', 'atrue']);
  });
});
