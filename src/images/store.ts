import { promises as fsp } from 'node:fs';
import * as fs from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { TvctlError, isErrno } from '../errors.js';
import { pidAlive as alive, withLock } from '../util/lock.js';
import { formatRef, parseRef, shortImageId } from './reference.js';
import { FileSource, PipeSource, isFileRegion } from './file-source.js';
import { adoptPrefetched } from './prefetch.js';
import { sniffCompression } from './compression.js';
import type { LayerSource } from './layer.js';
import { unpackLayer } from './unpack.js';
import { hasTarSplit, rebuildLayerTar, rebuiltSize } from './tar-split.js';
import { MEDIA, type OciDescriptor, type OciImageConfig, type OciManifest } from './oci.js';

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

interface Db {
  version: 1;
  images: Record<string, StoredImage>;
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

export const DEFAULT_PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function hexOf(digest: string): string {
  const m = /^sha256:([0-9a-f]{64})$/.exec(digest);
  if (!m) throw new TvctlError('BAD_DIGEST', `unsupported digest "${digest}" (only sha256 is supported)`);
  return m[1]!;
}

export function imageNotFound(ref: string): TvctlError {
  return new TvctlError(
    'IMAGE_NOT_FOUND',
    `image "${ref}" not found; run "tvctl images" or "tvctl image import FILE NAME"`,
    125,
  );
}

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
    return join(this.blobsDir, hexOf(digest));
  }
  layerDir(diffId: string): string {
    return join(this.root, 'layers', hexOf(diffId));
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

  async readDb(): Promise<Db> {
    try {
      // Synchronous: a small JSON file read on every container start, where a thread-pool round trip costs more.
      const db = JSON.parse(fs.readFileSync(this.dbPath, 'utf8')) as Db;
      return db.images ? db : { version: 1, images: {} };
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return { version: 1, images: {} };
      throw new TvctlError(
        'STORE_CORRUPT',
        `image store index ${this.dbPath} is unreadable: ${(err as Error).message}`,
      );
    }
  }

  // The store's small metadata operations (index, staging dirs, renames, existence checks) are direct
  // syscalls: each takes microseconds, a thread-pool round trip costs more, and a load makes dozens.
  private async writeDb(db: Db): Promise<void> {
    const tmp = `${this.dbPath}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, JSON.stringify(db, null, 1) + '\n', { mode: 0o600 });
    fs.renameSync(tmp, this.dbPath);
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
    const db = await this.readDb();
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
    await this.sweepTmp();
    const dir = join(this.tmpDir, `${process.pid}-${randomBytes(6).toString('hex')}`);
    fs.mkdirSync(dir, { mode: 0o700 });
    return { dir, blobs: new Map(), layers: new Map() };
  }

  async discardStaging(s: Staging): Promise<void> {
    await fsp.rm(s.dir, { recursive: true, force: true });
  }

  /** Removes staging dirs of processes that no longer exist (a load killed mid-way). */
  private async sweepTmp(): Promise<void> {
    let names: string[] = [];
    try {
      names = fs.readdirSync(this.tmpDir);
    } catch {
      // no tmp dir yet
    }
    for (const name of names) {
      const pid = Number(name.split('-')[0]);
      if (pid > 0 && pid !== process.pid && !alive(pid))
        await fsp.rm(join(this.tmpDir, name), { recursive: true, force: true });
    }
  }

  /** Writes a small blob (JSON) into staging and returns its descriptor digest. */
  async stageBlob(s: Staging, data: Buffer): Promise<string> {
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    const p = join(s.dir, `blob-${hexOf(digest)}`);
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
      return {
        size: fs.statSync(p).size,
        *chunks() {
          const fd = fs.openSync(p, 'r');
          try {
            const buf = Buffer.allocUnsafe(1 << 20);
            for (;;) {
              const n = fs.readSync(fd, buf, 0, buf.length, null);
              if (n === 0) return;
              yield Buffer.from(buf.subarray(0, n));
            }
          } finally {
            fs.closeSync(fd);
          }
        },
      };
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
    const tag = formatRef(parseRef(ref));
    if (typeof input === 'string') await assertReadableFile(input);
    const s = await this.newStaging();
    try {
      // The layer blob is the uncompressed tar (digest = diff ID); it is not stored but rebuilt from the
      // unpacked dir and its tar-split when needed (image save).
      const layer = await this.stageLayer(
        s,
        typeof input === 'string'
          ? await layerInFile(input)
          : 'pipeFd' in input
            ? await layerOnPipe(input.pipeFd)
            : input,
      );
      const blobSize = layer.tarSize;
      const created = new Date().toISOString();
      const config: OciImageConfig = {
        created,
        architecture: 'amd64',
        os: 'linux',
        config: { Env: [DEFAULT_PATH_ENV] },
        rootfs: { type: 'layers', diff_ids: [layer.diffId] },
        history: [{ created, created_by: `tvctl image import ${opts.message ?? ''}`.trim() }],
      };
      const configBytes = Buffer.from(JSON.stringify(config));
      const configDigest = await this.stageBlob(s, configBytes);
      const layerDesc: OciDescriptor = { mediaType: MEDIA.ociLayer, digest: layer.diffId, size: blobSize };
      const manifest: OciManifest = {
        schemaVersion: 2,
        mediaType: MEDIA.ociManifest,
        config: { mediaType: MEDIA.ociConfig, digest: configDigest, size: configBytes.length },
        layers: [layerDesc],
      };
      const manifestDigest = await this.stageBlob(s, Buffer.from(JSON.stringify(manifest)));
      const stored = await this.commit(
        s,
        { id: configDigest, created, manifestDigest, configDigest, diffIds: [layer.diffId], layers: [layerDesc] },
        [tag],
      );
      return toRecord(stored);
    } finally {
      await this.discardStaging(s);
    }
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
      const cur = db.images[img.id]!;
      const untagged: string[] = [];
      let tagRef: string | undefined;
      try {
        const t = formatRef(parseRef(ref));
        if (cur.repoTags.includes(t)) tagRef = t;
      } catch {
        // an id
      }
      if (tagRef && cur.repoTags.length > 1) {
        cur.repoTags = cur.repoTags.filter((t) => t !== tagRef);
        await this.writeDb(db);
        return { untagged: [tagRef], deleted: [] };
      }
      if (!tagRef && cur.repoTags.length > 1 && !opts.force) {
        throw new TvctlError(
          'IMAGE_CONFLICT',
          `image ${shortImageId(cur.id)} is referenced by ${cur.repoTags.length} tags (${cur.repoTags.join(', ')}); remove them by name or use -f`,
          125,
        );
      }
      if (opts.isInUse && (await opts.isInUse(cur.id))) {
        throw new TvctlError(
          'IMAGE_IN_USE',
          `image "${ref}" (${shortImageId(cur.id)}) is used by a container; remove the container first`,
          125,
        );
      }
      untagged.push(...cur.repoTags);
      delete db.images[cur.id];
      await this.writeDb(db);
      await this.gc(db);
      return { untagged, deleted: [cur.id] };
    });
  }

  /** Deletes dangling (untagged) images, or with `all` every image no container uses. */
  async prune(
    opts: { all?: boolean; isInUse?: InUseCheck } = {},
  ): Promise<{ deleted: string[]; untagged: string[]; spaceReclaimed: number }> {
    return this.locked(async () => {
      const db = await this.readDb();
      const deleted: string[] = [];
      const untagged: string[] = [];
      let space = 0;
      for (const img of Object.values(db.images)) {
        if (!opts.all && img.repoTags.length > 0) continue;
        if (opts.isInUse && (await opts.isInUse(img.id))) continue;
        delete db.images[img.id];
        deleted.push(img.id);
        untagged.push(...img.repoTags);
      }
      await this.writeDb(db);
      space = await this.gc(db);
      return { deleted, untagged, spaceReclaimed: space };
    });
  }

  /** Removes blobs and layers no image references (caller holds the lock). Returns bytes of layers freed. */
  private async gc(db: Db): Promise<number> {
    const blobs = new Set<string>();
    const layers = new Set<string>();
    for (const img of Object.values(db.images)) {
      for (const d of [img.manifestDigest, img.configDigest, ...img.layers.map((l) => l.digest)]) blobs.add(hexOf(d));
      for (const d of img.diffIds) layers.add(hexOf(d));
    }
    let freed = 0;
    for (const name of await fsp.readdir(this.blobsDir).catch(() => [] as string[])) {
      if (!blobs.has(name)) await fsp.rm(join(this.blobsDir, name), { force: true });
    }
    const layersDir = join(this.root, 'layers');
    for (const name of await fsp.readdir(layersDir).catch(() => [] as string[])) {
      if (layers.has(name)) continue;
      freed += await this.layerSize(`sha256:${name}`).catch(() => 0);
      // rename first so a half-deleted layer never looks complete
      const aside = join(this.tmpDir, `${process.pid}-gc-${name}`);
      await fsp.rename(join(layersDir, name), aside).catch(() => undefined);
      await fsp.rm(aside, { recursive: true, force: true });
    }
    return freed;
  }
}

/** Keeps the last (topmost) occurrence of each diff ID, preserving order. */
export function uniqueLayers(diffIds: string[]): string[] {
  const last = new Map<string, number>();
  diffIds.forEach((d, i) => last.set(d, i));
  return diffIds.filter((d, i) => last.get(d) === i);
}

function moveTag(db: Db, tag: string, id: string): void {
  for (const other of Object.values(db.images)) {
    if (other.id !== id) other.repoTags = other.repoTags.filter((t) => t !== tag);
  }
  const img = db.images[id]!;
  if (!img.repoTags.includes(tag)) img.repoTags.push(tag);
}

function toRecord(i: StoredImage): ImageRecord {
  return { id: i.id, repoTags: [...i.repoTags], created: i.created, size: i.size };
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

export async function assertReadableFile(file: string): Promise<void> {
  try {
    const st = await fsp.stat(file);
    if (!st.isFile() && !st.isFIFO() && !st.isCharacterDevice())
      throw new TvctlError('BAD_INPUT', `"${file}" is not a file`);
  } catch (err) {
    if (err instanceof TvctlError) throw err;
    if (isErrno(err, 'ENOENT')) throw new TvctlError('FILE_NOT_FOUND', `"${file}": no such file`);
    throw new TvctlError('BAD_INPUT', `cannot read "${file}": ${(err as Error).message}`);
  }
}

/**
 * A root file system tar on a pipe (`docker export … | tvctl image import - NAME`): an uncompressed one is read
 * by the extractor from the pipe itself after our first read; a compressed one is streamed through here.
 */
async function layerOnPipe(fd: number): Promise<LayerSource> {
  const it = new PipeSource(fd)[Symbol.asyncIterator]();
  const first = await it.next();
  if (!first.done && sniffCompression(first.value) === 'none') return { fd, prefix: first.value, rest: Infinity };
  return (async function* () {
    if (!first.done) yield first.value;
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
  })();
}

/** A layer tar in a file: an uncompressed one is read in place by the extractor (see unpackLayer). */
async function layerInFile(file: string): Promise<LayerSource> {
  const size = (await fsp.stat(file)).size;
  const head = Buffer.alloc(4);
  const fh = await fsp.open(file, 'r');
  try {
    await fh.read(head, 0, 4, 0);
  } finally {
    await fh.close();
  }
  return sniffCompression(head) === 'none' ? { file, offset: 0, length: size } : new FileSource(file);
}
