import { Flags } from '@oclif/core';
import { TvctlCommand } from '../../../cli/base-command.js';
import { installKernel, installKernelFromDeb, type InstalledKernel } from '../../../vm/kernel.js';

export default class VmKernelInstall extends TvctlCommand<InstalledKernel> {
  static override description =
    "fetch Debian's linux-image-cloud-amd64 (apt-get download), or take a .deb (--from), and install its bzImage as the guest kernel";
  static override flags = {
    update: Flags.boolean({ description: 'run apt-get update first', exclusive: ['from'] }),
    from: Flags.string({
      description: 'install from this Debian kernel package (.deb) instead of downloading one: works offline',
      helpValue: 'FILE.deb',
    }),
  };

  async run(): Promise<InstalledKernel> {
    const { flags } = await this.parse(VmKernelInstall);
    const data = this.roots(flags).data;
    const k = flags.from
      ? await installKernelFromDeb(data, flags.from)
      : await installKernel(data, { aptUpdate: flags.update });
    if (!this.jsonEnabled()) this.log(`${k.path}: Linux ${k.version} (${k.package}, boot protocol ${k.bootProtocol})`);
    return k;
  }
}
