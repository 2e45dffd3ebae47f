import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { TvctlError } from '../errors.js';
import { digestHex, formatRef, parseRef, shortImageId } from './reference.js';
import type { RepositoriesDb } from './store-db.js';
import type { ImageStore, InUseCheck } from './store.js';
import { pidAlive } from '../util/lock.js';
import * as fs from 'node:fs';

/**
 * Takes `ref` (which names image `id`) out of `db`: a tag that the image shares with others is removed
 * alone; otherwise the image goes, unless it has several tags and `ref` is its id (without force), or a
 * container uses it.
 */
export async function removeImage(
  db: RepositoriesDb,
  id: string,
  ref: string,
  opts: { force?: boolean; isInUse?: InUseCheck },
): Promise<{ untagged: string[]; deleted: string[] }> {
  const cur = db.images[id]!;
  let tagRef: string | undefined;
  try {
    const t = formatRef(parseRef(ref));
    if (cur.repoTags.includes(t)) tagRef = t;
  } catch {
    // an id
  }
  if (tagRef && cur.repoTags.length > 1) {
    cur.repoTags = cur.repoTags.filter((t) => t !== tagRef);
    return { untagged: [tagRef], deleted: [] };
  }
  if (!tagRef && cur.repoTags.length > 1 && !opts.force) {
    throw new TvctlError(
      'IMAGE_CONFLICT',
      `image ${shortImageId(cur.id)} is referenced by ${cur.repoTags.length} tags (${cur.repoTags.join(', ')}); remove them by name or use -f`,
    );
  }
  if (opts.isInUse && (await opts.isInUse(cur.id))) {
    throw new TvctlError(
      'IMAGE_IN_USE',
      `image "${ref}" (${shortImageId(cur.id)}) is used by a container; remove the container first`,
    );
  }
  delete db.images[cur.id];
  return { untagged: [...cur.repoTags], deleted: [cur.id] };
}

/** Takes the dangling (untagged) images out of `db`, or with `all` every image no container uses. */
export async function pruneImages(
  db: RepositoriesDb,
  opts: { all?: boolean; isInUse?: InUseCheck },
): Promise<{ deleted: string[]; untagged: string[] }> {
  const deleted: string[] = [];
  const untagged: string[] = [];
  for (const img of Object.values(db.images)) {
    if (!opts.all && img.repoTags.length > 0) continue;
    if (opts.isInUse && (await opts.isInUse(img.id))) continue;
    delete db.images[img.id];
    deleted.push(img.id);
    untagged.push(...img.repoTags);
  }
  return { deleted, untagged };
}

/**
 * Removes the blobs and layers no image of `db` references (the caller holds the store lock). Returns the
 * bytes of layers freed.
 */
export async function collectGarbage(store: ImageStore, db: RepositoriesDb): Promise<number> {
  const blobs = new Set<string>();
  const layers = new Set<string>();
  for (const img of Object.values(db.images)) {
    for (const d of [img.manifestDigest, img.configDigest, ...img.layers.map((l) => l.digest)]) blobs.add(digestHex(d));
    for (const d of img.diffIds) layers.add(digestHex(d));
  }
  let freed = 0;
  for (const name of await fsp.readdir(store.blobsDir).catch(() => [] as string[])) {
    if (!blobs.has(name)) await fsp.rm(join(store.blobsDir, name), { force: true });
  }
  const layersDir = join(store.root, 'layers');
  for (const name of await fsp.readdir(layersDir).catch(() => [] as string[])) {
    if (layers.has(name)) continue;
    freed += await store.layerSize(`sha256:${name}`).catch(() => 0);
    // rename first so a half-deleted layer never looks complete
    const aside = join(store.tmpDir, `${process.pid}-gc-${name}`);
    await fsp.rename(join(layersDir, name), aside).catch(() => undefined);
    await fsp.rm(aside, { recursive: true, force: true });
  }
  return freed;
}

/** Removes the staging dirs (named PID-RANDOM) of processes that no longer exist: loads killed mid-way. */
export async function sweepDeadStaging(tmpDir: string): Promise<void> {
  let names: string[] = [];
  try {
    names = fs.readdirSync(tmpDir);
  } catch {
    // no tmp dir yet
  }
  for (const name of names) {
    const pid = Number(name.split('-')[0]);
    if (pid > 0 && pid !== process.pid && !pidAlive(pid))
      await fsp.rm(join(tmpDir, name), { recursive: true, force: true });
  }
}
