import { shortImageId, splitRepoTag } from './reference.js';
import type { ImageRecord } from './store.js';

/** One row per tag (dangling images get one <none> row), as `docker images` prints. */
export interface ImageRow {
  repository: string;
  tag: string;
  id: string;
  created: string;
  size: number;
}

export function imageRows(images: ImageRecord[]): ImageRow[] {
  const rows: ImageRow[] = [];
  for (const i of images) {
    if (i.repoTags.length === 0)
      rows.push({ repository: '<none>', tag: '<none>', id: i.id, created: i.created, size: i.size });
    for (const t of i.repoTags) {
      const r = splitRepoTag(t);
      rows.push({ repository: r.name, tag: r.tag, id: i.id, created: i.created, size: i.size });
    }
  }
  return rows;
}

/** `--filter reference=PATTERN`: glob on name or name:tag (* does not cross /), as Docker. */
export function matchesReference(row: ImageRow, pattern: string): boolean {
  const re = globToRegExp(pattern);
  return re.test(row.repository) || re.test(`${row.repository}:${row.tag}`);
}

function globToRegExp(glob: string): RegExp {
  let s = '';
  for (const ch of glob) {
    if (ch === '*') s += '[^/]*';
    else if (ch === '?') s += '[^/]';
    else s += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${s}$`);
}

export { shortImageId };
