import { arch, release } from 'node:os';
import { TvctlCommand } from '../cli/base-command.js';
import { kvmAddonAvailable } from '../vm/kvm.js';
import { formatHostFacts, gatherHostFacts, type HostFacts } from '../host/facts.js';
import { assessVmEngines, findOnPath, probeKvm, type EngineAssessment, type KvmProbe } from '../vm/probe.js';

/**
 * `tvctl info`: what this host offers. One section per subject so others can add theirs (containers: cgroup
 * mode, namespaces, overlayfs) without reshaping the rest.
 */
export interface InfoResult {
  host: {
    kernel: string;
    arch: string;
  };
  virtualization: {
    kvm: KvmProbe;
    /** "hardware-assisted (VT-x/AMD-V)", "software (PVM)", "none", ... */
    kind: string;
    engines: EngineAssessment[];
  };
  /** Containers and the whole picture (src/host/facts.ts): cgroups, namespaces, overlayfs, QEMU, guest kernel,
   * every engine (container, kvm, qemu) usable or not and why, and the taxonomy sentences. */
  facts: HostFacts;
}

const KIND_LABEL: Record<KvmProbe['kind'], string> = {
  hardware: 'hardware-assisted (VT-x/AMD-V)',
  'software-pvm': 'software (PVM)',
  unknown: 'unknown',
  none: 'none',
};

export default class Info extends TvctlCommand<InfoResult> {
  static override description =
    'show what this host offers: KVM (hardware-assisted, software PVM or none) and the VM engines that work';

  async run(): Promise<InfoResult> {
    const { flags } = await this.parse(Info);
    const kvm = probeKvm();
    const engines = assessVmEngines(kvm, {
      addonBuilt: kvmAddonAvailable(),
      qemuBinary: findOnPath('qemu-system-x86_64'),
    });
    const result: InfoResult = {
      host: { kernel: release(), arch: arch() },
      virtualization: { kvm, kind: KIND_LABEL[kvm.kind], engines },
      facts: gatherHostFacts({ dataRoot: this.roots(flags).data }),
    };
    if (!this.jsonEnabled()) {
      const d = kvm.device;
      const caps = Object.entries(d.extensions)
        .filter(([, v]) => v > 0)
        .map(([k]) => k);
      this.log(`Kernel:        ${result.host.kernel} (${result.host.arch})`);
      this.log(`KVM:           ${KIND_LABEL[kvm.kind]}`);
      this.log(
        `  device:      ${d.devicePath} ${d.present ? (d.accessible ? 'present, accessible' : `present, not accessible (${d.error ?? ''})`) : 'absent'}`,
      );
      if (d.apiVersion >= 0) this.log(`  API version: ${d.apiVersion}${kvm.apiOk ? '' : ' (unsupported, need 12)'}`);
      const mods = Object.entries(kvm.modules)
        .filter(([, v]) => v)
        .map(([k]) => k);
      this.log(`  modules:     ${mods.length ? mods.join(', ') : 'none'}`);
      this.log(
        `  cpu flags:   vmx=${kvm.cpuFlags.vmx ? 'yes' : 'no'} svm=${kvm.cpuFlags.svm ? 'yes' : 'no'} hypervisor=${kvm.cpuFlags.hypervisor ? 'yes' : 'no'}`,
      );
      if (caps.length) this.log(`  extensions:  ${caps.join(' ')}`);
      this.log(`  meaning:     ${kvm.meaning}`);
      this.log('VM engines:');
      for (const e of engines) {
        const state = !e.usable ? 'unusable' : e.fullLinux ? 'full Linux' : 'small guests only';
        this.log(`  ${e.engine.padEnd(5)} ${state}${e.accel ? ` (-accel ${e.accel})` : ''}: ${e.why}`);
      }
      this.log('');
      for (const line of formatHostFacts(result.facts, { withKernel: false })) this.log(line);
    }
    return result;
  }
}
