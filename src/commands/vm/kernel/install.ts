import { Flags } from '@oclif/core';
import { TvctlCommand } from '../../../cli/base-command.js';
import { installKernel, type InstalledKernel } from '../../../vm/kernel.js';

export default class VmKernelInstall extends TvctlCommand<InstalledKernel> {
  static override description =
    "fetch Debian's linux-image-cloud-amd64 (apt-get download) and install its bzImage as the guest kernel";
  static override flags = {
    update: Flags.boolean({ description: 'run apt-get update first' }),
  };

  async run(): Promise<InstalledKernel> {
    const { flags } = await this.parse(VmKernelInstall);
    const k = await installKernel(this.roots(flags).data, { aptUpdate: flags.update });
    if (!this.jsonEnabled()) this.log(`${k.path}: Linux ${k.version} (${k.package}, boot protocol ${k.bootProtocol})`);
    return k;
  }
}
