import { TvctlCommand } from '../cli/base-command.js';
import { TvctlError, exitCodeOf } from '../errors.js';
import { shortId } from '../runtime/ids.js';
import { Runtime } from '../runtime/runtime.js';

interface PruneOutput {
  containersDeleted: string[];
  /** the stopped containers that could not be removed, and why */
  failed?: { id: string; error: string }[];
}

export default class Prune extends TvctlCommand<PruneOutput> {
  static override description = 'remove all stopped containers';
  static override aliases = ['container prune'];

  async run(): Promise<PruneOutput> {
    const { flags } = await this.parse(Prune);
    const runtime = new Runtime({ roots: this.roots(flags) });
    const { removed, failed } = await runtime.prune();
    if (!this.jsonEnabled()) {
      if (removed.length > 0) this.log(['Deleted Containers:', ...removed].join('\n'));
      this.log(`Total reclaimed containers: ${removed.length}`);
    }
    if (failed.length === 0) return { containersDeleted: removed };
    // With --json the result says what was removed and what was not; the exit status says it was not all.
    if (this.jsonEnabled()) {
      process.exitCode = exitCodeOf('PARTIAL_FAILURE');
      return { containersDeleted: removed, failed };
    }
    // As Docker's multi-container verbs: each failure on stderr, then a non-zero exit.
    for (const f of failed) process.stderr.write(`tvctl: cannot remove container ${shortId(f.id)}: ${f.error}\n`);
    throw new TvctlError(
      'PARTIAL_FAILURE',
      `${failed.length} of ${removed.length + failed.length} stopped containers could not be removed`,
    );
  }
}
