import { Args, Flags } from '@oclif/core';
import { TvctlCommand } from '../cli/base-command.js';
import { goTime, renderFormat } from '../cli/go-template.js';
import { TvctlError } from '../errors.js';
import {
  humanAgo,
  humanSize,
  imageRows,
  matchesReference,
  renderTable,
  shortImageId,
  type ImageRow,
} from '../images/format.js';
import { ImageStore } from '../images/store.js';

export default class Images extends TvctlCommand<ImageRow[]> {
  static override description = 'list images';
  static override aliases = ['image:ls', 'image:list'];
  static override args = {
    repository: Args.string({ description: 'only images of this repository (NAME or NAME:TAG)' }),
  };
  static override flags = {
    quiet: Flags.boolean({ char: 'q', description: 'only image IDs' }),
    filter: Flags.string({
      char: 'f',
      description: 'filter: reference=PATTERN or dangling=true|false',
      multiple: true,
    }),
    'no-trunc': Flags.boolean({ description: 'full image IDs' }),
    format: Flags.string({
      description: "Go template per image ('table {{.Repository}}\\t{{.ID}}' for a table), or 'json'",
    }),
  };

  async run(): Promise<ImageRow[]> {
    const { args, flags } = await this.parse(Images);
    const store = new ImageStore(this.roots(flags).data);
    let rows = imageRows(await store.list());
    const filters = [...(flags.filter ?? []), ...(args.repository ? [`reference=${args.repository}`] : [])];
    for (const f of filters) {
      const eq = f.indexOf('=');
      const key = eq > 0 ? f.slice(0, eq) : f;
      const val = eq > 0 ? f.slice(eq + 1) : '';
      if (key === 'reference') rows = rows.filter((r) => matchesReference(r, val));
      else if (key === 'dangling')
        rows = rows.filter((r) => (r.repository === '<none>') === (val === 'true' || val === '1'));
      else throw new TvctlError('BAD_USAGE', `unsupported filter "${f}": use reference=PATTERN or dangling=true|false`);
    }
    if (!this.jsonEnabled()) {
      const id = (s: string) => (flags['no-trunc'] ? s : shortImageId(s));
      if (flags.quiet) {
        const seen = new Set<string>();
        for (const r of rows) {
          if (seen.has(r.id)) continue;
          seen.add(r.id);
          this.log(id(r.id));
        }
      } else if (flags.format !== undefined) {
        const fields = rows.map((r) => ({
          ID: id(r.id),
          Repository: r.repository,
          Tag: r.tag,
          Digest: '<none>',
          CreatedSince: humanAgo(r.created),
          CreatedAt: goTime(r.created),
          Size: humanSize(r.size),
        }));
        const out = renderFormat(flags.format, fields, {
          ID: 'IMAGE ID',
          Repository: 'REPOSITORY',
          Tag: 'TAG',
          Digest: 'DIGEST',
          CreatedSince: 'CREATED',
          CreatedAt: 'CREATED AT',
          Size: 'SIZE',
        });
        if (out) this.log(out);
      } else {
        this.log(
          renderTable(
            ['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE'],
            rows.map((r) => [r.repository, r.tag, id(r.id), humanAgo(r.created), humanSize(r.size)]),
          ),
        );
      }
    }
    return rows;
  }
}
