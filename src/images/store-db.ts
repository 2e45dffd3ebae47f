import * as fs from 'node:fs';
import { writeFileAtomicSync } from '../util/atomic-write.js';
import { TvctlError, isErrno } from '../errors.js';
import { formatRef, parseRef } from './reference.js';
import type { ImageRecord, StoredImage } from './store.js';

/** repositories.json: every image of the store by id, with its tags. */
export interface RepositoriesDb {
  version: 1;
  images: Record<string, StoredImage>;
}

export function readRepositories(path: string): RepositoriesDb {
  try {
    // Synchronous: a small JSON file read on every container start, where a thread-pool round trip costs more.
    const db = JSON.parse(fs.readFileSync(path, 'utf8')) as RepositoriesDb;
    return db.images ? db : { version: 1, images: {} };
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return { version: 1, images: {} };
    throw new TvctlError('STORE_CORRUPT', `image store index ${path} is unreadable: ${(err as Error).message}`);
  }
}

/** Replaces the file atomically (a new file renamed over it); the caller holds the store lock. */
export function writeRepositories(path: string, db: RepositoriesDb): void {
  writeFileAtomicSync(path, JSON.stringify(db, null, 1) + '\n');
}

export function imageNotFound(ref: string): TvctlError {
  return new TvctlError(
    'IMAGE_NOT_FOUND',
    `image "${ref}" not found; run "tvctl images" or "tvctl image import FILE NAME"`,
  );
}

/** name[:tag], full or short image id, or a unique id prefix. */
export function findImage(db: RepositoriesDb, ref: string): StoredImage {
  const images = Object.values(db.images);
  const idLike = /^(sha256:)?[0-9a-f]{1,64}$/.test(ref);
  if (/^(sha256:)?[0-9a-f]{64}$/.test(ref)) {
    const id = ref.startsWith('sha256:') ? ref : `sha256:${ref}`;
    const img = db.images[id];
    if (img) return img;
  }
  let tagged: string | undefined;
  try {
    tagged = formatRef(parseRef(ref));
  } catch (err) {
    if (!idLike) throw err;
  }
  if (tagged) {
    const img = images.find((i) => i.repoTags.includes(tagged!));
    if (img) return img;
  }
  if (idLike) {
    const prefix = ref.startsWith('sha256:') ? ref : `sha256:${ref}`;
    const hits = images.filter((i) => i.id.startsWith(prefix));
    if (hits.length === 1) return hits[0]!;
    if (hits.length > 1)
      throw new TvctlError(
        'IMAGE_AMBIGUOUS',
        `image id prefix "${ref}" matches ${hits.length} images; give more characters`,
      );
  }
  throw imageNotFound(ref);
}

/** Gives image `id` the tag, taking it off any other image. */
export function moveTag(db: RepositoriesDb, tag: string, id: string): void {
  for (const other of Object.values(db.images)) {
    if (other.id !== id) other.repoTags = other.repoTags.filter((t) => t !== tag);
  }
  const img = db.images[id]!;
  if (!img.repoTags.includes(tag)) img.repoTags.push(tag);
}

export function toRecord(i: StoredImage): ImageRecord {
  return { id: i.id, repoTags: [...i.repoTags], created: i.created, size: i.size };
}
