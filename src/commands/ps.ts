import { Flags } from '@oclif/core';
import { listingFlags } from '../cli/args.js';
import { TvctlCommand } from '../cli/base-command.js';
import { renderFormat } from '../cli/go-template.js';
import { PS_FORMAT_HEADERS, PS_TABLE_HEADERS, psFormatFields, psTableRow } from '../cli/ps-columns.js';
import { formatTable } from '../cli/table.js';
import { shortId } from '../runtime/ids.js';
import { listContainers, parseFilter, toPsEntry, type PsEntry } from '../runtime/list.js';
import { Runtime } from '../runtime/runtime.js';

export default class Ps extends TvctlCommand<PsEntry[]> {
  static override description = 'list containers';
  static override aliases = ['container ls'];
  static override flags = {
    all: Flags.boolean({ char: 'a', description: 'show all containers (default shows just running)' }),
    ...listingFlags('container', 'status=, name=, label=KEY[=VALUE], id=', '{{.ID}}\\t{{.Names}}'),
  };

  async run(): Promise<PsEntry[]> {
    const { flags } = await this.parse(Ps);
    const filters = (flags.filter ?? []).map(parseFilter);
    const runtime = new Runtime({ roots: this.roots(flags) });
    const containers = await listContainers(runtime, { all: flags.all, filters });
    const entries = containers.map((c) => toPsEntry(c));
    if (this.jsonEnabled()) return entries;
    const noTrunc = flags['no-trunc'] ?? false;
    if (flags.quiet) {
      for (const e of entries) this.log(noTrunc ? e.id : shortId(e.id));
    } else if (flags.format !== undefined) {
      const out = renderFormat(
        flags.format,
        containers.map((c) => psFormatFields(c, noTrunc)),
        PS_FORMAT_HEADERS,
      );
      if (out) this.log(out);
    } else {
      const now = Date.now();
      this.log(
        formatTable(
          PS_TABLE_HEADERS,
          containers.map((c) => psTableRow(c, noTrunc, now)),
        ),
      );
    }
    return entries;
  }
}
