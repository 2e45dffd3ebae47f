import { promises as fsp } from 'node:fs';
import * as fs from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { TvctlError } from '../errors.js';
import { withLock } from '../util/lock.js';
import { digestHex, formatRef, parseRef } from './reference.js';
import { findImage, moveTag, readRepositories, toRecord, writeRepositories, type RepositoriesDb } from './store-db.js';
import { collectGarbage, pruneImages, removeImage, sweepDeadStaging } from './store-prune.js';
import { importRootfs } from './store-import.js';
import { fileChunks, isFileRegion } from './file-source.js';
import { adoptPrefetched } from './prefetch.js';
import type { LayerSource } from './layer.js';
import { unpackLayer } from './unpack.js';
import { hasTarSplit, rebuildLayerTar, rebuiltSize } from './tar-split.js';
import type { OciDescriptor, OciImageConfig } from './oci.js';

export interface ImageRecord {
  /** sha256:<64 hex> of the config blob */
  id: string;
  repoTags: string[];
  created: string;
  /** uncompressed bytes of all layers */
  size: number;
}

export interface ImageProcessConfig {
  entrypoint?: string[];
  cmd?: string[];
  env: string[];
  workingDir?: string;
  user?: string;
  stopSignal?: string;
  exposedPorts: string[];
}

export interface ResolvedImage extends ImageRecord {
  /**
   * Unpacked layer dirs, BOTTOM first (reverse them for overlay's lowerdir). A layer that occurs more than
   * once (common for empty layers) is listed once, at its topmost position: overlayfs refuses a repeated
   * lowerdir (ELOOP), and the lower copies are fully shadowed by the top one, so the merged view is the same.
   */
  layerDirs: string[];
  config: ImageProcessConfig;
}

/** What repositories.json keeps per image. */
export interface StoredImage extends ImageRecord {
  manifestDigest: string;
  configDigest: string;
  diffIds: string[];
  /** the manifest's layer descriptors (blobs kept for `image save`) */
  layers: OciDescriptor[];
  loaded: string;
}

/** One layer staged by a load or import: an unpacked dir in the store's tmp area, not yet committed. */
export interface StagedLayer {
  diffId: string;
  dir: string; // tmp dir containing fs/ and layer.json
}

export interface Staging {
  dir: string;
  blobs: Map<string, string>; // digest → tmp file
  layers: Map<string, StagedLayer>; // diffId → staged
}

export type InUseCheck = (imageId: string) => Promise<boolean>;

/**
 * The content-addressed image store under <dataRoot>/images:
 *   blobs/sha256/<hex>        manifests, configs and layer blobs exactly as loaded (verified)
 *   layers/<diffid hex>/fs    each layer unpacked once, shared by every image that has it
 *   repositories.json         images and their tags (replaced atomically)
 *   tmp/                      staging for loads in progress (renamed into place under the lock)
 *   lock                      held only for short commits
 */
export class ImageStore {
  readonly root: string;

  constructor(dataRoot: string) {
    this.root = join(dataRoot, 'images');
  }

  get blobsDir(): string {
    return join(this.root, 'blobs', 'sha256');
  }
  blobPath(digest: string): string {
    return join(this.blobsDir, digestHex(digest));
  }
  layerDir(diffId: string): string {
    return join(this.root, 'layers', digestHex(diffId));
  }
  layerFsDir(diffId: string): string {
    return join(this.layerDir(diffId), 'fs');
  }
  private get dbPath(): string {
    return join(this.root, 'repositories.json');
  }
  private get lockPath(): string {
    return join(this.root, 'lock');
  }
  get tmpDir(): string {
    return join(this.root, 'tmp');
  }

  async init(): Promise<void> {
    fs.mkdirSync(this.blobsDir, { recursive: true, mode: 0o700 });
    fs.mkdirSync(join(this.root, 'layers'), { recursive: true, mode: 0o700 });
    fs.mkdirSync(this.tmpDir, { recursive: true, mode: 0o700 });
  }

  async readDb(): Promise<RepositoriesDb> {
    return readRepositories(this.dbPath);
  }

  // The store's small metadata operations (index, staging dirs, renames, existence checks) are direct
  // syscalls: each takes microseconds, a thread-pool round trip costs more, and a load makes dozens.
  private async writeDb(db: RepositoriesDb): Promise<void> {
    writeRepositories(this.dbPath, db);
  }

  /** Runs `fn` with the store lock held. */
  async locked<T>(fn: () => Promise<T>): Promise<T> {
    await this.init();
    return withLock(this.lockPath, fn, { timeoutMs: 120_000 });
  }

  async list(): Promise<ImageRecord[]> {
    const db = await this.readDb();
    return Object.values(db.images)
      .sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : 0))
      .map(toRecord);
  }

  async listStored(): Promise<StoredImage[]> {
    return Object.values((await this.readDb()).images);
  }

  /** name[:tag], full or short image id, or a unique id prefix. */
  async lookup(ref: string): Promise<StoredImage> {
    return findImage(await this.readDb(), ref);
  }

  async resolve(ref: string): Promise<ResolvedImage> {
    const img = await this.lookup(ref);
    const config = await this.readConfig(img);
    const layerDirs = uniqueLayers(img.diffIds).map((d) => this.layerFsDir(d));
    return { ...toRecord(img), layerDirs, config: processConfigOf(config) };
  }

  async readConfig(img: StoredImage): Promise<OciImageConfig> {
    return JSON.parse(fs.readFileSync(this.blobPath(img.configDigest), 'utf8')) as OciImageConfig;
  }

  async readBlob(digest: string): Promise<Buffer> {
    return fsp.readFile(this.blobPath(digest));
  }

  async hasLayer(diffId: string): Promise<boolean> {
    return fs.existsSync(join(this.layerDir(diffId), 'layer.json'));
  }

  async hasBlob(digest: string): Promise<boolean> {
    return fs.existsSync(this.blobPath(digest));
  }

  /** A fresh staging dir (named by pid so leftovers of dead loads can be swept). */
  async newStaging(): Promise<Staging> {
    await this.init();
    await sweepDeadStaging(this.tmpDir);
    const dir = join(this.tmpDir, `${process.pid}-${randomBytes(6).toString('hex')}`);
    fs.mkdirSync(dir, { mode: 0o700 });
    return { dir, blobs: new Map(), layers: new Map() };
  }

  async discardStaging(s: Staging): Promise<void> {
    await fsp.rm(s.dir, { recursive: true, force: true });
  }

  /** Writes a small blob (JSON) into staging and returns its descriptor digest. */
  async stageBlob(s: Staging, data: Buffer): Promise<string> {
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    const p = join(s.dir, `blob-${digestHex(digest)}`);
    fs.writeFileSync(p, data, { mode: 0o600 });
    s.blobs.set(digest, p);
    return digest;
  }

  /** Unpacks a layer (stream or file region) into staging (skip it if the store has it: see `hasLayer`). */
  async stageLayer(s: Staging, source: LayerSource): Promise<StagedLayer & { size: number; tarSize: number }> {
    const dir = join(s.dir, `layer-${randomBytes(6).toString('hex')}`);
    // a layer the launcher already started unpacking (see prefetch.ts), or one unpacked now
    let r = isFileRegion(source) ? await adoptPrefetched(source, dir) : undefined;
    if (!r) {
      fs.mkdirSync(join(dir, 'fs'), { recursive: true, mode: 0o755 });
      r = await unpackLayer(source, join(dir, 'fs'), s.dir, { splitDir: dir });
    }
    fs.writeFileSync(join(dir, 'layer.json'), JSON.stringify({ diffId: r.diffId, size: r.size }) + '\n');
    const staged = { diffId: r.diffId, dir };
    if (!s.layers.has(r.diffId)) s.layers.set(r.diffId, staged);
    return { ...staged, size: r.size, tarSize: r.tarSize };
  }

  /**
   * A blob is available if its file is in blobs/, or if it is an uncompressed layer (digest = diff ID)
   * that can be rebuilt exactly from its unpacked dir and tar-split.
   */
  async blobAvailable(digest: string): Promise<boolean> {
    return (await this.hasBlob(digest)) || ((await this.hasLayer(digest)) && hasTarSplit(this.layerDir(digest)));
  }

  /** Size and a chunk source for a blob, stored or rebuilt. */
  blobSource(digest: string): { size: number; chunks(): Iterable<Buffer> } {
    const p = this.blobPath(digest);
    if (fs.existsSync(p)) {
      return { size: fs.statSync(p).size, chunks: () => fileChunks(p) };
    }
    const dir = this.layerDir(digest);
    if (!hasTarSplit(dir)) throw new TvctlError('BLOB_MISSING', `blob ${digest} is missing from the store`);
    return { size: rebuiltSize(dir), chunks: () => rebuildLayerTar(dir, digest) };
  }

  async layerSize(diffId: string): Promise<number> {
    const j = JSON.parse(fs.readFileSync(join(this.layerDir(diffId), 'layer.json'), 'utf8')) as { size: number };
    return j.size;
  }

  /**
   * Moves staged blobs and layers into place and registers the image, under the lock. Everything the
   * image needs must then exist; otherwise nothing is registered.
   */
  async commit(
    s: Staging,
    img: Omit<StoredImage, 'size' | 'repoTags' | 'loaded'>,
    tags: string[],
  ): Promise<StoredImage> {
    return this.locked(async () => {
      for (const [digest, tmp] of s.blobs) {
        if (!(await this.hasBlob(digest))) fs.renameSync(tmp, this.blobPath(digest));
      }
      for (const [diffId, staged] of s.layers) {
        if (!(await this.hasLayer(diffId))) {
          if (fs.existsSync(this.layerDir(diffId)))
            await fsp.rm(this.layerDir(diffId), { recursive: true, force: true }); // a half-committed leftover
          fs.renameSync(staged.dir, this.layerDir(diffId));
        }
      }
      let size = 0;
      for (const d of img.diffIds) {
        if (!(await this.hasLayer(d)))
          throw new TvctlError(
            'LAYER_MISSING',
            `layer ${d} vanished from the store during the load (removed concurrently?); retry`,
          );
        size += await this.layerSize(d);
      }
      for (const d of [img.configDigest, img.manifestDigest, ...img.layers.map((l) => l.digest)]) {
        if (!(await this.blobAvailable(d)))
          throw new TvctlError('BLOB_MISSING', `blob ${d} is missing from the store; retry the load`);
      }
      const db = await this.readDb();
      const prev = db.images[img.id];
      const stored: StoredImage = {
        ...img,
        size,
        repoTags: [...(prev?.repoTags ?? [])],
        loaded: prev?.loaded ?? new Date().toISOString(),
      };
      db.images[img.id] = stored;
      for (const t of tags) moveTag(db, t, img.id);
      await this.writeDb(db);
      return db.images[img.id]!;
    });
  }

  /**
   * `docker import`: one rootfs tar (or tar.gz / tar.zst) becomes a one-layer image. `input` is a file
   * path or a stream (a pipe on stdin).
   */
  async importRootfs(
    input: string | AsyncIterable<Buffer> | { pipeFd: number },
    ref: string,
    opts: { message?: string } = {},
  ): Promise<ImageRecord> {
    return importRootfs(this, input, ref, opts);
  }

  /** Adds TARGET (name[:tag]) to the image SOURCE refers to; the tag moves off any other image. */
  async tag(source: string, target: string): Promise<ImageRecord> {
    const t = formatRef(parseRef(target));
    return this.locked(async () => {
      const img = await this.lookup(source);
      const db = await this.readDb();
      moveTag(db, t, img.id);
      await this.writeDb(db);
      return toRecord(db.images[img.id]!);
    });
  }

  /**
   * `image rm`: a tag reference removes that tag (and the image once it has none left); an id removes the
   * image, which with several tags needs force. An image used by a container is never removed.
   */
  async remove(
    ref: string,
    opts: { force?: boolean; isInUse?: InUseCheck } = {},
  ): Promise<{ untagged: string[]; deleted: string[] }> {
    return this.locked(async () => {
      const img = await this.lookup(ref);
      const db = await this.readDb();
      const removed = await removeImage(db, img.id, ref, opts);
      await this.writeDb(db);
      if (removed.deleted.length) await collectGarbage(this, db);
      return removed;
    });
  }

  /** Deletes dangling (untagged) images, or with `all` every image no container uses. */
  async prune(
    opts: { all?: boolean; isInUse?: InUseCheck } = {},
  ): Promise<{ deleted: string[]; untagged: string[]; spaceReclaimed: number }> {
    return this.locked(async () => {
      const db = await this.readDb();
      const pruned = await pruneImages(db, opts);
      await this.writeDb(db);
      return { ...pruned, spaceReclaimed: await collectGarbage(this, db) };
    });
  }
}

/** Keeps the last (topmost) occurrence of each diff ID, preserving order. */
export function uniqueLayers(diffIds: string[]): string[] {
  const last = new Map<string, number>();
  diffIds.forEach((d, i) => last.set(d, i));
  return diffIds.filter((d, i) => last.get(d) === i);
}

/** Image config → the defaults of a container's process. */
export function processConfigOf(c: OciImageConfig): ImageProcessConfig {
  const cc = c.config ?? {};
  const out: ImageProcessConfig = {
    env: Array.isArray(cc.Env) ? cc.Env.filter((e): e is string => typeof e === 'string') : [],
    exposedPorts: cc.ExposedPorts && typeof cc.ExposedPorts === 'object' ? Object.keys(cc.ExposedPorts) : [],
  };
  if (Array.isArray(cc.Entrypoint) && cc.Entrypoint.length > 0) out.entrypoint = cc.Entrypoint.map(String);
  if (Array.isArray(cc.Cmd) && cc.Cmd.length > 0) out.cmd = cc.Cmd.map(String);
  if (cc.WorkingDir) out.workingDir = cc.WorkingDir;
  if (cc.User) out.user = cc.User;
  if (cc.StopSignal) out.stopSignal = cc.StopSignal;
  return out;
}
