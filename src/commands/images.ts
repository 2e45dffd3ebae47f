import { Args } from '@oclif/core';
import { listingFlags } from '../cli/args.js';
import { TvctlCommand } from '../cli/base-command.js';
import { renderFormat } from '../cli/go-template.js';
import type { ImageRow } from '../images/format.js';
import { IMAGE_FORMAT_HEADERS, imageFormatFields, imageIds, imageTable, listImageRows } from '../images/list.js';
import { ImageStore } from '../images/store.js';

export default class Images extends TvctlCommand<ImageRow[]> {
  static override description = 'list images';
  static override aliases = ['image:ls', 'image:list'];
  static override args = {
    repository: Args.string({ description: 'only images of this repository (NAME or NAME:TAG)' }),
  };
  static override flags = {
    ...listingFlags('image', 'reference=PATTERN or dangling=true|false', '{{.Repository}}\\t{{.ID}}'),
  };

  async run(): Promise<ImageRow[]> {
    const { args, flags } = await this.parse(Images);
    const store = new ImageStore(this.roots(flags).data);
    const filters = [...(flags.filter ?? []), ...(args.repository ? [`reference=${args.repository}`] : [])];
    const rows = listImageRows(await store.list(), filters);
    if (this.jsonEnabled()) return rows;
    const noTrunc = flags['no-trunc'];
    if (flags.quiet) {
      for (const id of imageIds(rows, noTrunc)) this.log(id);
    } else if (flags.format !== undefined) {
      const fields = rows.map((r) => imageFormatFields(r, noTrunc));
      const out = renderFormat(flags.format, fields, IMAGE_FORMAT_HEADERS);
      if (out) this.log(out);
    } else {
      this.log(imageTable(rows, noTrunc));
    }
    return rows;
  }
}
