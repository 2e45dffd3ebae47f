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

export function humanSize(n: number): string {
  // Docker uses decimal units
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return u === 0 ? `${v}B` : `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)}${units[u]}`;
}

export function humanAgo(iso: string, now = Date.now()): string {
  const t = Date.parse(iso);
  if (!Number.isFinite(t) || t <= 0) return 'N/A'; // no "created" in the config
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 1) return 'Less than a second ago';
  if (s < 60) return `${s} seconds ago`;
  const m = Math.round(s / 60);
  if (m < 60) return m === 1 ? 'About a minute ago' : `${m} minutes ago`;
  const h = Math.round(s / 3600);
  if (h < 48) return h === 1 ? 'About an hour ago' : `${h} hours ago`;
  const d = Math.round(s / 86400);
  if (d < 14) return `${d} days ago`;
  if (d < 60) return `${Math.round(d / 7)} weeks ago`;
  if (d < 730) return `${Math.round(d / 30)} months ago`;
  return `${Math.round(d / 365)} years ago`;
}

export function renderTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]! + 3)))
      .join('')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export { shortImageId };
