/**
 * `tvctl info` for people: the KVM device, the VM engines, then the container/host facts and the taxonomy.
 * Pure: lines from the facts gatherHostFacts collected.
 */
import type { KvmProbe } from '../vm/probe.js';
import { list, type HostFacts } from './facts.js';

export const KVM_KIND_LABEL: Record<KvmProbe['kind'], string> = {
  hardware: 'hardware-assisted (VT-x/AMD-V)',
  'software-pvm': 'software (PVM)',
  unknown: 'unknown',
  none: 'none',
};

/** Everything `tvctl info` prints. */
export function formatInfo(f: HostFacts): string[] {
  const { kvm } = f;
  const d = kvm.device;
  const yesNo = (b: boolean): string => (b ? 'yes' : 'no');
  const set = (flags: Record<string, number | boolean>): string[] =>
    Object.entries(flags)
      .filter(([, v]) => v === true || (typeof v === 'number' && v > 0))
      .map(([k]) => k);
  const out = [
    `Kernel:        ${f.kernel.release} (${f.kernel.arch})`,
    `KVM:           ${KVM_KIND_LABEL[kvm.kind]}`,
    `  device:      ${d.devicePath} ${d.present ? (d.accessible ? 'present, accessible' : `present, not accessible (${d.error ?? ''})`) : 'absent'}`,
  ];
  if (d.apiVersion >= 0) out.push(`  API version: ${d.apiVersion}${kvm.apiOk ? '' : ' (unsupported, need 12)'}`);
  out.push(`  modules:     ${list(set(kvm.modules))}`);
  out.push(
    `  cpu flags:   vmx=${yesNo(kvm.cpuFlags.vmx)} svm=${yesNo(kvm.cpuFlags.svm)} hypervisor=${yesNo(kvm.cpuFlags.hypervisor)}`,
  );
  const caps = set(d.extensions);
  if (caps.length) out.push(`  extensions:  ${caps.join(' ')}`);
  out.push(`  meaning:     ${kvm.meaning}`);
  out.push('VM engines:');
  for (const e of f.engines) {
    if (e.engine === 'container') continue;
    // what the engine itself can boot; a missing guest kernel is the host's part, said in the why
    const state = !e.usable
      ? 'unusable'
      : e.fullLinux || e.needs === 'guest-kernel'
        ? 'full Linux'
        : 'small guests only';
    out.push(`  ${e.engine.padEnd(5)} ${state}${e.accel ? ` (-accel ${e.accel})` : ''}: ${e.why}`);
  }
  out.push('', ...formatHostFacts(f, { withKernel: false }));
  return out;
}

/** The container/host part of `tvctl info`, and the engines with what each needs. */
export function formatHostFacts(f: HostFacts, opts: { withKernel?: boolean } = {}): string[] {
  const out: string[] = [];
  if (opts.withKernel !== false)
    out.push(
      `Host kernel:   ${f.kernel.release} (${f.kernel.arch}), ${f.cpus} CPUs${f.memTotalKiB ? `, ${Math.round(f.memTotalKiB / 1024)} MiB` : ''}`,
    );
  out.push(`cgroups:       ${f.cgroups.mode ?? `none (${f.cgroups.error ?? ''})`}`);
  if (f.cgroups.mode && f.cgroups.mode !== 'v2') out.push(`  v1:          ${list(f.cgroups.v1Controllers)}`);
  if (f.cgroups.mode && f.cgroups.mode !== 'v1') out.push(`  v2:          ${list(f.cgroups.v2Controllers)}`);
  out.push(`Namespaces:    ${list(f.namespaces)}`);
  out.push(`overlayfs:     ${f.overlayfs ? 'yes' : 'no'}`);
  out.push(`QEMU:          ${f.qemu.binary ?? 'not installed'}`);
  out.push(
    `Guest kernel:  ${f.guestKernel.installed ? `${f.guestKernel.path}${f.guestKernel.version ? ` (${f.guestKernel.version})` : ''}` : 'not installed ("tvctl vm kernel install")'}`,
  );
  out.push('Engines:');
  for (const e of f.engines) {
    const state = !e.usable
      ? 'unusable'
      : e.fullLinux
        ? 'usable'
        : e.needs === 'guest-kernel'
          ? 'needs a guest kernel'
          : 'small guests only';
    out.push(`  ${e.engine.padEnd(9)} ${state}${e.accel ? ` (-accel ${e.accel})` : ''}: ${e.why}`);
  }
  out.push('');
  for (const s of f.explanation) out.push(s);
  return out;
}
