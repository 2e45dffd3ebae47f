import { TvctlCommand } from '../cli/base-command.js';
import { Runtime } from '../runtime/runtime.js';

export default class Prune extends TvctlCommand<{ containersDeleted: string[] }> {
  static override description = 'remove all stopped containers';
  static override aliases = ['container prune'];

  async run(): Promise<{ containersDeleted: string[] }> {
    const { flags } = await this.parse(Prune);
    const runtime = new Runtime({ roots: this.roots(flags) });
    const removed = await runtime.prune();
    if (!this.jsonEnabled()) {
      if (removed.length > 0) this.log(['Deleted Containers:', ...removed].join('\n'));
      this.log(`Total reclaimed containers: ${removed.length}`);
    }
    return { containersDeleted: removed };
  }
}
