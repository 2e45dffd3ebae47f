import { TvctlCommand } from '../cli/base-command.js';
import { gatherHostFacts, type HostFacts } from '../host/facts.js';
import { formatInfo } from '../host/format.js';

/**
 * `tvctl info`: what this host offers, one section per subject (kernel, cgroups, namespaces, overlayfs, KVM,
 * QEMU, the guest kernel, every engine with the reason it can or cannot run here, the taxonomy sentences).
 */
export type InfoResult = HostFacts;

export default class Info extends TvctlCommand<InfoResult> {
  static override description =
    'show what this host offers: KVM (hardware-assisted, software PVM or none) and the VM engines that work';

  async run(): Promise<InfoResult> {
    const { flags } = await this.parse(Info);
    const facts = gatherHostFacts({ dataRoot: this.roots(flags).data });
    if (!this.jsonEnabled()) for (const line of formatInfo(facts)) this.log(line);
    return facts;
  }
}
