import { TvctlCommand } from '../cli/base-command.js';

export interface VersionResult {
  version: string;
  node: string;
  kernel: string;
}

export default class Version extends TvctlCommand<VersionResult> {
  static override description = 'show the tvctl version, Node.js and host kernel';

  async run(): Promise<VersionResult> {
    await this.parse(Version);
    const { release } = await import('node:os');
    const result = { version: this.config.version, node: process.version, kernel: release() };
    if (!this.jsonEnabled()) this.log(`tvctl ${result.version} (node ${result.node}, kernel ${result.kernel})`);
    return result;
  }
}
