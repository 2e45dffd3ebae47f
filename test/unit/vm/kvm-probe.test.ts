import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  buildAptDownloadArgv,
  buildDpkgExtractArgv,
  findKernel,
  kernelPath,
  parseKernelDependency,
} from '../../../src/vm/kernel.js';
import type { KvmDeviceProbe } from '../../../src/vm/kvm.js';
import { assessVmEngines, classifyKvm, findOnPath, parseCpuFlags, type KvmFacts } from '../../../src/vm/probe.js';
import { TvctlError } from '../../../src/errors.js';

const device = (o: Partial<KvmDeviceProbe> = {}): KvmDeviceProbe => ({
  devicePath: '/dev/kvm',
  present: true,
  accessible: true,
  errno: 0,
  apiVersion: 12,
  extensions: { irqchip: 1 },
  ...o,
});
const facts = (o: Partial<KvmFacts> = {}): KvmFacts => ({
  device: device(),
  probedWith: 'addon',
  modules: { kvm: true, kvmIntel: false, kvmAmd: false, kvmPvm: false },
  cpuFlags: { vmx: false, svm: false, hypervisor: true },
  ...o,
});

describe('classifyKvm', () => {
  it('kvm_intel / kvm_amd → hardware-assisted', () => {
    const p = classifyKvm(
      facts({
        modules: { kvm: true, kvmIntel: true, kvmAmd: false, kvmPvm: false },
        cpuFlags: { vmx: true, svm: false, hypervisor: false },
      }),
    );
    expect(p.kind).toBe('hardware');
    expect(p.apiOk).toBe(true);
    expect(p.meaning).toMatch(/VT-x/);
    expect(
      classifyKvm(facts({ modules: { kvm: true, kvmIntel: false, kvmAmd: true, kvmPvm: false } })).meaning,
    ).toMatch(/AMD-V/);
  });
  it('kvm_pvm → software PVM', () => {
    const p = classifyKvm(facts({ modules: { kvm: true, kvmIntel: false, kvmAmd: false, kvmPvm: true } }));
    expect(p.kind).toBe('software-pvm');
    expect(p.meaning).toMatch(/PVM/);
  });
  it('no device → none, and says whether the CPU could do it', () => {
    const p = classifyKvm(
      facts({ device: device({ present: false, accessible: false, apiVersion: -1, error: 'ENOENT' }) }),
    );
    expect(p.kind).toBe('none');
    expect(p.meaning).toMatch(/does not exist.*no VT-x\/AMD-V.*TCG/);
    const q = classifyKvm(
      facts({
        device: device({ present: false, accessible: false }),
        cpuFlags: { vmx: true, svm: false, hypervisor: false },
      }),
    );
    expect(q.meaning).toMatch(/load kvm_intel or kvm_amd/);
  });
  it('present but inaccessible or wrong API is reported', () => {
    expect(
      classifyKvm(
        facts({
          device: device({ accessible: false, error: 'EACCES' }),
          modules: { kvm: true, kvmIntel: false, kvmAmd: false, kvmPvm: true },
        }),
      ).meaning,
    ).toMatch(/not accessible.*EACCES/);
    expect(classifyKvm(facts({ device: device({ apiVersion: 11 }) })).apiOk).toBe(false);
  });
  it('parses cpu flags', () => {
    expect(parseCpuFlags('processor\t: 0\nflags\t\t: fpu vme vmx sse2 hypervisor\n')).toEqual({
      vmx: true,
      svm: false,
      hypervisor: true,
    });
    expect(parseCpuFlags('')).toEqual({ vmx: false, svm: false, hypervisor: false });
  });
});

describe('assessVmEngines', () => {
  const pvm = classifyKvm(facts({ modules: { kvm: true, kvmIntel: false, kvmAmd: false, kvmPvm: true } }));
  const hw = classifyKvm(facts({ modules: { kvm: true, kvmIntel: true, kvmAmd: false, kvmPvm: false } }));
  const none = classifyKvm(facts({ device: device({ present: false, accessible: false }) }));
  it('PVM: addon for small guests only, QEMU with TCG for full Linux', () => {
    const [kvm, qemu] = assessVmEngines(pvm, { addonBuilt: true, qemuBinary: '/usr/bin/qemu-system-x86_64' });
    expect(kvm).toMatchObject({ engine: 'kvm', usable: true, fullLinux: false });
    expect(qemu).toMatchObject({ engine: 'qemu', usable: true, fullLinux: true, accel: 'tcg' });
  });
  it('hardware: both full, QEMU with -accel kvm', () => {
    const [kvm, qemu] = assessVmEngines(hw, { addonBuilt: true, qemuBinary: '/usr/bin/qemu-system-x86_64' });
    expect(kvm).toMatchObject({ usable: true, fullLinux: true });
    expect(qemu).toMatchObject({ accel: 'kvm', fullLinux: true });
  });
  it('no KVM, no addon, no QEMU', () => {
    expect(assessVmEngines(none, { addonBuilt: true, qemuBinary: undefined })).toMatchObject([
      { engine: 'kvm', usable: false, why: 'no /dev/kvm' },
      { engine: 'qemu', usable: false },
    ]);
    expect(assessVmEngines(hw, { addonBuilt: false, qemuBinary: undefined })[0]).toMatchObject({
      usable: false,
      why: expect.stringMatching(/not built/),
    });
  });
});

describe('guest kernel', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tvctl-kernel-unit-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  it('findKernel says how to get one, then finds it', () => {
    try {
      findKernel(dir);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(TvctlError);
      expect((e as TvctlError).code).toBe('KERNEL_NOT_FOUND');
      expect((e as TvctlError).message).toMatch(/run "tvctl vm kernel install"/);
    }
    mkdirSync(join(dir, 'kernels'));
    writeFileSync(kernelPath(dir), 'x');
    expect(findKernel(dir)).toBe(join(dir, 'kernels', 'vmlinuz'));
  });
  it('resolves the meta package and builds the apt/dpkg command lines', () => {
    const out = 'linux-image-cloud-amd64\n  Depends: linux-image-6.1.0-56-cloud-amd64\n';
    expect(parseKernelDependency(out)).toBe('linux-image-6.1.0-56-cloud-amd64');
    expect(parseKernelDependency('nothing')).toBeUndefined();
    expect(buildAptDownloadArgv('p')).toEqual({ file: 'apt-get', args: ['download', '-q', 'p'] });
    expect(buildDpkgExtractArgv('/t/a.deb', '/t/r')).toEqual({ file: 'dpkg', args: ['-x', '/t/a.deb', '/t/r'] });
  });
  it('findOnPath finds executables only', () => {
    expect(findOnPath('sh', '/nonexistent:/bin')).toBe('/bin/sh');
    expect(findOnPath('definitely-not-here', '/bin')).toBeUndefined();
  });
});
