import { TvctlCommand } from '../cli/base-command.js';
import { TvctlError } from '../errors.js';
import { shortId } from '../runtime/ids.js';
import { Runtime } from '../runtime/runtime.js';

export default class Prune extends TvctlCommand<{ containersDeleted: string[] }> {
  static override description = 'remove all stopped containers';
  static override aliases = ['container prune'];

  async run(): Promise<{ containersDeleted: string[] }> {
    const { flags } = await this.parse(Prune);
    const runtime = new Runtime({ roots: this.roots(flags) });
    const { removed, failed } = await runtime.prune();
    if (!this.jsonEnabled()) {
      if (removed.length > 0) this.log(['Deleted Containers:', ...removed].join('\n'));
      this.log(`Total reclaimed containers: ${removed.length}`);
    }
    // As Docker's multi-container verbs: each failure on stderr, then a non-zero exit.
    for (const f of failed) process.stderr.write(`tvctl: cannot remove container ${shortId(f.id)}: ${f.error}\n`);
    if (failed.length > 0) {
      throw new TvctlError(
        'PARTIAL_FAILURE',
        `${failed.length} of ${removed.length + failed.length} stopped containers could not be removed`,
      );
    }
    return { containersDeleted: removed };
  }
}
