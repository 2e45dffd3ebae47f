/** `tvctl images`: the rows, their filters and the ways to print them, as `docker images` does. */
import { goTime } from '../cli/go-template.js';
import { TvctlError } from '../errors.js';
import { formatTable } from '../cli/table.js';
import { decimalBytes, humanAgo } from '../util/units.js';
import { imageRows, matchesReference, type ImageRow } from './format.js';
import { shortImageId } from './reference.js';
import type { ImageRecord } from './store.js';

/**
 * One row per tag, kept if they pass every filter: `reference=PATTERN` (a glob, as Docker's) or
 * `dangling=true|false`.
 */
export function listImageRows(images: ImageRecord[], filters: string[]): ImageRow[] {
  let rows = imageRows(images);
  for (const f of filters) {
    const eq = f.indexOf('=');
    const key = eq > 0 ? f.slice(0, eq) : f;
    const val = eq > 0 ? f.slice(eq + 1) : '';
    if (key === 'reference') rows = rows.filter((r) => matchesReference(r, val));
    else if (key === 'dangling')
      rows = rows.filter((r) => (r.repository === '<none>') === (val === 'true' || val === '1'));
    else throw new TvctlError('BAD_USAGE', `unsupported filter "${f}": use reference=PATTERN or dangling=true|false`);
  }
  return rows;
}

const idOf = (id: string, noTrunc: boolean) => (noTrunc ? id : shortImageId(id));

/** `-q`: each image's id once, in row order. */
export function imageIds(rows: ImageRow[], noTrunc: boolean): string[] {
  return [...new Set(rows.map((r) => r.id))].map((id) => idOf(id, noTrunc));
}

/** The fields a `--format` template sees, by Docker's names, and their table headers. */
export function imageFormatFields(row: ImageRow, noTrunc: boolean, now = Date.now()): Record<string, string> {
  return {
    ID: idOf(row.id, noTrunc),
    Repository: row.repository,
    Tag: row.tag,
    Digest: '<none>',
    CreatedSince: humanAgo(row.created, now),
    CreatedAt: goTime(row.created),
    Size: decimalBytes(row.size),
  };
}

export const IMAGE_FORMAT_HEADERS: Record<string, string> = {
  ID: 'IMAGE ID',
  Repository: 'REPOSITORY',
  Tag: 'TAG',
  Digest: 'DIGEST',
  CreatedSince: 'CREATED',
  CreatedAt: 'CREATED AT',
  Size: 'SIZE',
};

/** The default listing. */
export function imageTable(rows: ImageRow[], noTrunc: boolean, now = Date.now()): string {
  return formatTable(
    ['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE'],
    rows.map((r) => [r.repository, r.tag, idOf(r.id, noTrunc), humanAgo(r.created, now), decimalBytes(r.size)]),
  );
}
