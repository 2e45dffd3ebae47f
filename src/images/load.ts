import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as fs from 'node:fs';
import { join, posix } from 'node:path';
import { TvctlError, isErrno } from '../errors.js';
import { trace } from '../util/trace.js';
import {
  LAYER_MEDIA_TYPES,
  MEDIA,
  type OciDescriptor,
  type OciImageConfig,
  type OciIndex,
  type OciManifest,
} from './oci.js';
import { formatRef, parseRef } from './reference.js';
import { ImageStore, type StagedLayer, type Staging, type StoredImage } from './store.js';
import { FileSource, PipeSource, bytesOf } from './file-source.js';
import { ByteReader, TarFormatError, readTar } from './tar-reader.js';
import { decompress, looksLikeLayer, sniffCompression } from './compression.js';
import type { LayerSource, PipeRest } from './layer.js';

export interface LoadProgress {
  /** input bytes read so far, and the total when known */
  onBytes?(read: number, total: number | undefined): void;
  onLayer?(done: number, started: number): void;
}

export interface LoadedImage {
  id: string;
  repoTags: string[];
  layers: number;
  /** layers that were new to the store */
  newLayers: number;
}

type LayerOutcome = { ok: true; staged: StagedLayer & { size: number } } | { ok: false; error: unknown };

interface ArchiveFile {
  path: string;
  size: number;
  digest: string;
  tmp?: string;
  data?: Buffer;
  layer?: Promise<LayerOutcome>;
  compression?: string;
}

const SMALL = 4 << 20;
const PLATFORM = { os: 'linux', architecture: 'amd64' };

class LoadError extends TvctlError {
  constructor(message: string) {
    super('BAD_ARCHIVE', message);
  }
}

/**
 * `image load`: an OCI image layout (directory or tar) or a docker-save archive (OCI-based or legacy
 * <id>/layer.tar), from a file, a directory or a stream. The input is read once: every file is hashed
 * and staged as it streams by, and anything that looks like a layer is unpacked at the same time into
 * staging. Only then are the index/manifests/configs interpreted, every digest and size checked, and the
 * image committed; any failure leaves the store as it was.
 */
export async function loadImages(
  store: ImageStore,
  input: { file?: string; stream?: NodeJS.ReadableStream; pipeFd?: number },
  progress: LoadProgress = {},
): Promise<LoadedImage[]> {
  trace(`image load: start (${input.file !== undefined ? 'file' : 'stream'})`);
  const s = await store.newStaging();
  let layersStarted = 0;
  let layersDone = 0;
  const known = await knownLayerBlobs(store);
  const files = new Map<string, ArchiveFile>();
  const aliases = new Map<string, string>();
  const pending: Promise<LayerOutcome>[] = [];
  const cleanups: (() => void)[] = [];
  try {
    /** Unpacks a layer into staging, counted for the progress bar; `settled` runs once it is done either way. */
    const startLayer = (source: LayerSource, settled?: () => void): Promise<LayerOutcome> => {
      layersStarted++;
      progress.onLayer?.(layersDone, layersStarted);
      const p = store.stageLayer(s, source).then(
        (staged): LayerOutcome => ({ ok: true, staged }),
        (error: unknown): LayerOutcome => ({ ok: false, error }),
      );
      void p.then(() => {
        settled?.();
        progress.onLayer?.(++layersDone, layersStarted);
      });
      pending.push(p);
      return p;
    };

    /** `at`: where the file's bytes are, when they lie as they are in a file (not in a compressed stream) */
    const handleFile = async (
      path: string,
      size: number,
      body: AsyncIterable<Buffer>,
      at?: { file: string; offset: number } | { pipe: PipeSource; reader: ByteReader },
    ): Promise<void> => {
      const first: Buffer[] = [];
      let have = 0;
      const it = body[Symbol.asyncIterator]();
      while (have < 512) {
        const r = await it.next();
        if (r.done) break;
        first.push(r.value);
        have += r.value.length;
      }
      const head = Buffer.concat(first);
      const rest = async function* (): AsyncGenerator<Buffer> {
        if (head.length) yield head;
        for (;;) {
          const r = await it.next();
          if (r.done) return;
          yield r.value;
        }
      };
      const hash = createHash('sha256');
      const rec: ArchiveFile = { path, size, digest: '' };
      const m = /^blobs\/sha256\/([0-9a-f]{64})$/.exec(path);
      const knownLayer = m ? known.get(`sha256:${m[1]}`) : undefined;
      if (size <= SMALL && !looksLikeLayer(head)) {
        const chunks: Buffer[] = [];
        for await (const c of rest()) {
          hash.update(c);
          chunks.push(c);
        }
        rec.data = Buffer.concat(chunks);
      } else if (knownLayer && (await store.hasLayer(knownLayer)) && (await store.blobAvailable(`sha256:${m![1]}`))) {
        // already in the store: verify the bytes, keep nothing
        for await (const c of rest()) hash.update(c);
      } else if (at && 'file' in at && sniffCompression(head) === 'none' && looksLikeLayer(head)) {
        // An uncompressed layer lying in a file: the extractor reads it from there by itself (the archive
        // reader skips it) and hashes what it read; no blob is kept (its tar-split rebuilds it).
        rec.compression = 'none';
        await it.return?.(undefined); // not read here (closes a blob file of a layout directory)
        rec.layer = startLayer({ file: at.file, offset: at.offset, length: size });
      } else if (
        at &&
        'pipe' in at &&
        sniffCompression(head) === 'none' &&
        looksLikeLayer(head) &&
        size > head.length
      ) {
        // An uncompressed layer on a stdin pipe: what was already read of it goes to the extractor first, and
        // it reads exactly the rest from the pipe itself, so that the layer is not copied through here.
        rec.compression = 'none';
        await it.return?.(undefined);
        const prefix = Buffer.concat([head, ...at.reader.takeBuffered(size - head.length)]);
        const rest = size - prefix.length;
        const source: PipeRest = { fd: at.pipe.fd, prefix, rest };
        rec.layer = startLayer(source);
        const outcome = await rec.layer;
        if (!outcome.ok) {
          // A bad layer is an error only if an image uses it (below), but the archive can be read on only if
          // we know where the pipe stands: the unpacker says how much of the layer it read; skip the rest.
          if (source.consumed === undefined) throw outcome.error;
          for await (const _ of bytesOf(at.pipe.fd, rest - source.consumed)) void _;
        }
        at.reader.consumedElsewhere(rest);
        at.pipe.counted(rest);
      } else {
        rec.compression = sniffCompression(head);
        // An uncompressed layer is not kept as a blob: its tar-split rebuilds it (see tar-split.ts).
        const keepBlob = !(looksLikeLayer(head) && rec.compression === 'none');
        const tmp = join(
          s.dir,
          `in-${files.size}-${posix
            .basename(path)
            .slice(0, 40)
            .replace(/[^\w.-]/g, '_')}`,
        );
        const fd = keepBlob ? fs.openSync(tmp, 'wx', 0o600) : -1;
        if (keepBlob) rec.tmp = tmp;
        let ch: ChunkChannel | undefined;
        if (looksLikeLayer(head)) {
          const channel = new ChunkChannel(4 << 20);
          ch = channel;
          rec.layer = startLayer(channel, () => channel.close()); // (on failure: keeps the writer from blocking)
        }
        try {
          for await (const c of rest()) {
            if (keepBlob) hash.update(c);
            let off = 0;
            if (fd >= 0) while (off < c.length) off += fs.writeSync(fd, c, off);
            if (ch) await ch.write(c);
          }
        } finally {
          if (fd >= 0) fs.closeSync(fd);
          ch?.end();
        }
      }
      if (rec.compression === 'none' && rec.layer && !rec.tmp) {
        // An uncompressed layer's digest is its diff ID, which the unpacker computes: hash it once.
        const outcome = await rec.layer;
        if (!outcome.ok) {
          // Not a usable layer. Record it unverified; if the image references it, the unpack error is reported.
          rec.digest = m ? `sha256:${m[1]}` : 'unverified';
          files.set(path, rec);
          return;
        }
        rec.digest = outcome.staged.diffId;
      } else rec.digest = `sha256:${hash.digest('hex')}`;
      if (m && rec.digest !== `sha256:${m[1]}`)
        throw new LoadError(
          `blob ${path} does not match its digest (content is sha256:${rec.digest.slice(7, 19)}…): the archive is corrupt`,
        );
      files.set(path, rec);
    };

    if (input.file !== undefined && (await isDir(input.file))) {
      await walkDir(input.file, '', handleFile, aliases);
    } else {
      const total = input.file !== undefined ? (await fsp.stat(input.file)).size : undefined;
      const file =
        input.file !== undefined
          ? new FileSource(input.file, 0, Infinity, (n) => progress.onBytes?.(n, total))
          : undefined;
      const pipe =
        input.pipeFd !== undefined ? new PipeSource(input.pipeFd, (n) => progress.onBytes?.(n, total)) : undefined;
      const raw = new ByteReader(
        file ?? pipe ?? counted(input.stream! as AsyncIterable<Buffer>, (n) => progress.onBytes?.(n, total)),
      );
      cleanups.push(() => file?.close());
      const head = await raw.peek(512);
      if (head.length === 0) throw new LoadError('the input is empty');
      const reader = sniffCompression(head) === 'none' ? raw : new ByteReader(decompress(restIter(raw)));
      try {
        for await (const { entry, body } of readTar(reader)) {
          const path = archivePath(entry.path);
          if (path === undefined) continue;
          if (entry.type === 'File' || entry.type === 'OldFile' || entry.type === 'ContiguousFile')
            await handleFile(
              path,
              entry.size,
              body,
              file && reader === raw
                ? { file: file.path, offset: reader.position }
                : pipe && reader === raw
                  ? { pipe, reader: raw }
                  : undefined,
            );
          else if (entry.type === 'SymbolicLink') aliases.set(path, posix.join(posix.dirname(path), entry.linkpath));
          else if (entry.type === 'Link') aliases.set(path, archivePath(entry.linkpath) ?? '');
        }
      } catch (err) {
        if (err instanceof TarFormatError) throw new LoadError(`input is not a valid image archive: ${err.message}`);
        throw err;
      }
    }
    await Promise.all(pending);
    trace('image load: input read, layers unpacked');

    const get = (p: string): ArchiveFile | undefined => {
      let path = posix.normalize(p).replace(/^\.?\//, '');
      for (let i = 0; i < 8 && !files.has(path) && aliases.has(path); i++)
        path = posix.normalize(aliases.get(path)!).replace(/^\.?\//, '');
      return files.get(path);
    };
    const ctx: Ctx = { store, s, get, files };
    let plans: ImagePlan[];
    if (get('index.json') && get('oci-layout')) plans = await planOci(ctx);
    else if (get('manifest.json')) plans = await planDocker(ctx);
    else if (get('repositories'))
      throw new LoadError(
        'this is a pre-1.10 docker-save archive (no manifest.json), which is not supported; re-save it with a newer Docker',
      );
    else
      throw new LoadError(
        'input is neither an OCI image layout (oci-layout, index.json) nor a docker-save archive (manifest.json)',
      );
    if (plans.length === 0) throw new LoadError('the archive holds no image for linux/amd64');
    // Tags from docker's manifest.json take precedence over OCI annotations for the same image.
    const out: LoadedImage[] = [];
    for (const p of plans) {
      let newLayers = 0;
      for (const d of p.diffIds) if (s.layers.has(d) && !(await store.hasLayer(d))) newLayers++;
      const stored: StoredImage = await store.commit(
        s,
        {
          id: p.configDigest,
          created: p.created,
          manifestDigest: p.manifestDigest,
          configDigest: p.configDigest,
          diffIds: p.diffIds,
          layers: p.layers,
        },
        p.tags,
      );
      out.push({ id: stored.id, repoTags: p.tags, layers: p.diffIds.length, newLayers });
    }
    trace('image load: committed');
    return out;
  } catch (err) {
    if (isErrno(err, 'ENOSPC'))
      throw new TvctlError('NO_SPACE', 'no space left on device while loading the image; nothing was registered');
    if (err instanceof TvctlError) throw err;
    throw new LoadError(`loading failed: ${(err as Error).message}`);
  } finally {
    for (const c of cleanups) c();
    await Promise.allSettled(pending);
    await store.discardStaging(s);
  }
}

/**
 * One producer, one consumer: chunks handed over as they are, with back-pressure. (A PassThrough would
 * concatenate whatever is buffered into one new Buffer on each read: a copy of every layer byte.)
 */
export class ChunkChannel implements AsyncIterable<Buffer> {
  private q: Buffer[] = [];
  private queued = 0;
  private ended = false;
  private closed = false;
  private wakeReader: (() => void) | undefined;
  private wakeWriter: (() => void) | undefined;

  constructor(private readonly limit: number) {}

  /** Queues a chunk; resolves once the queue is below the limit again (or the reader is gone). */
  async write(c: Buffer): Promise<void> {
    if (this.closed) return;
    this.q.push(c);
    this.queued += c.length;
    this.wake('reader');
    while (this.queued >= this.limit && !this.closed) await new Promise<void>((r) => (this.wakeWriter = r));
  }

  end(): void {
    this.ended = true;
    this.wake('reader');
  }

  /** The reader is done (or failed): drop what is queued and anything written later. */
  close(): void {
    this.closed = true;
    this.q = [];
    this.queued = 0;
    this.wake('writer');
  }

  private wake(who: 'reader' | 'writer'): void {
    const w = who === 'reader' ? this.wakeReader : this.wakeWriter;
    if (who === 'reader') this.wakeReader = undefined;
    else this.wakeWriter = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    for (;;) {
      while (this.q.length) {
        const c = this.q.shift()!;
        this.queued -= c.length;
        if (this.queued < this.limit) this.wake('writer');
        yield c;
      }
      if (this.ended || this.closed) return;
      await new Promise<void>((r) => (this.wakeReader = r));
    }
  }
}

interface Ctx {
  store: ImageStore;
  s: Staging;
  get(p: string): ArchiveFile | undefined;
  files: Map<string, ArchiveFile>;
}

interface ImagePlan {
  tags: string[];
  created: string;
  configDigest: string;
  manifestDigest: string;
  diffIds: string[];
  layers: OciDescriptor[];
}

/** blob digest → diff ID for every layer already in the store (to skip re-unpacking). */
async function knownLayerBlobs(store: ImageStore): Promise<Map<string, string>> {
  const m = new Map<string, string>();
  for (const img of await store.listStored())
    img.layers.forEach((l, i) => img.diffIds[i] && m.set(l.digest, img.diffIds[i]!));
  return m;
}

function archivePath(p: string): string | undefined {
  const parts: string[] = [];
  for (const c of p.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (!parts.length) return undefined;
      parts.pop();
    } else parts.push(c);
  }
  return parts.length ? parts.join('/') : undefined;
}

async function* counted(src: AsyncIterable<Buffer>, on: (n: number) => void): AsyncGenerator<Buffer> {
  let n = 0;
  for await (const c of src) {
    n += c.length;
    on(n);
    yield c;
  }
}

async function* restIter(r: ByteReader): AsyncGenerator<Buffer> {
  for (;;) {
    const b = await r.readSome();
    if (!b) return;
    yield b;
  }
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await fsp.stat(p)).isDirectory();
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw new TvctlError('FILE_NOT_FOUND', `"${p}": no such file or directory`);
    throw err;
  }
}

async function walkDir(
  root: string,
  rel: string,
  onFile: (p: string, size: number, body: AsyncIterable<Buffer>, at: { file: string; offset: number }) => Promise<void>,
  aliases: Map<string, string>,
): Promise<void> {
  for (const d of await fsp.readdir(join(root, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${d.name}` : d.name;
    if (d.isDirectory()) await walkDir(root, r, onFile, aliases);
    else if (d.isFile()) {
      const p = join(root, r);
      await onFile(r, (await fsp.stat(p)).size, new FileSource(p), { file: p, offset: 0 });
    } else if (d.isSymbolicLink()) aliases.set(r, posix.join(posix.dirname(r), await fsp.readlink(join(root, r))));
  }
}

function parseJson<T>(f: ArchiveFile, what: string): T {
  try {
    if (!f.data) throw new Error('too large');
    return JSON.parse(f.data.toString('utf8')) as T;
  } catch (err) {
    throw new LoadError(`${what} (${f.path}) is not valid JSON: ${(err as Error).message}`);
  }
}

function blobOf(ctx: Ctx, d: OciDescriptor, what: string): ArchiveFile {
  if (!d || typeof d.digest !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(d.digest))
    throw new LoadError(`${what} has a missing or unsupported digest (${String(d?.digest)})`);
  const f = ctx.get(`blobs/sha256/${d.digest.slice(7)}`);
  if (!f) throw new LoadError(`${what} ${d.digest} is missing from the archive`);
  if (typeof d.size === 'number' && d.size !== f.size)
    throw new LoadError(`${what} ${d.digest} has size ${f.size}, but the descriptor says ${d.size}`);
  return f;
}

async function planOci(ctx: Ctx): Promise<ImagePlan[]> {
  const layout = parseJson<{ imageLayoutVersion?: string }>(ctx.get('oci-layout')!, 'oci-layout');
  if (!layout.imageLayoutVersion) throw new LoadError('oci-layout has no imageLayoutVersion');
  const index = parseJson<OciIndex>(ctx.get('index.json')!, 'index.json');
  if (!Array.isArray(index.manifests)) throw new LoadError('index.json has no manifests list');
  // docker ≥ 25 also writes manifest.json with RepoTags: use them for the matching configs.
  const dockerTags = new Map<string, string[]>();
  const dm = ctx.get('manifest.json');
  if (dm) {
    for (const e of parseJson<DockerManifestEntry[]>(dm, 'manifest.json')) {
      const c = /blobs\/sha256\/([0-9a-f]{64})$/.exec(e.Config ?? '');
      if (c) dockerTags.set(`sha256:${c[1]}`, e.RepoTags ?? []);
    }
  }
  // Group top-level descriptors by image name; within a group pick linux/amd64.
  const groups = new Map<string, OciDescriptor[]>();
  for (const d of index.manifests) {
    const name =
      d.annotations?.['io.containerd.image.name'] ?? d.annotations?.['org.opencontainers.image.ref.name'] ?? '';
    // (a bare ref.name like "latest" groups but yields no tag; see tagFromAnnotation)
    groups.set(name, [...(groups.get(name) ?? []), d]);
  }
  const plans = new Map<string, ImagePlan>();
  for (const [name, descs] of groups) {
    const manifestDesc = await pickManifest(ctx, descs, 0);
    if (!manifestDesc) continue;
    const plan = await planManifest(ctx, manifestDesc);
    const tags = [
      ...(dockerTags.get(plan.configDigest) ?? []).map((t) => tagFromAnnotation(t)),
      ...(name ? [tagFromAnnotation(name)] : []),
    ].filter((t): t is string => !!t);
    const prev = plans.get(plan.configDigest);
    if (prev) prev.tags.push(...tags.filter((t) => !prev.tags.includes(t)));
    else plans.set(plan.configDigest, { ...plan, tags: [...new Set(tags)] });
  }
  return [...plans.values()];
}

/** An OCI ref name is either a full reference or just a tag ("latest"); a bare tag has no repository. */
function tagFromAnnotation(name: string): string | undefined {
  try {
    if (!name.includes('/') && !name.includes(':')) return undefined; // a bare tag: no repository to file it under
    return formatRef(parseRef(name.replace(/^docker\.io\/(library\/)?/, '')));
  } catch {
    return undefined;
  }
}

async function pickManifest(ctx: Ctx, descs: OciDescriptor[], depth: number): Promise<OciDescriptor | undefined> {
  if (depth > 4) throw new LoadError('image index nesting is too deep');
  const fits = (d: OciDescriptor) =>
    !d.platform || (d.platform.os === PLATFORM.os && d.platform.architecture === PLATFORM.architecture);
  const candidates = descs.filter(fits);
  // prefer an explicit linux/amd64 over a platform-less entry
  candidates.sort((a, b) => Number(!!b.platform) - Number(!!a.platform));
  for (const d of candidates) {
    if (d.mediaType === MEDIA.ociIndex || d.mediaType === MEDIA.dockerManifestList) {
      const f = blobOf(ctx, d, 'image index');
      const idx = parseJson<OciIndex>(f, 'image index');
      if (!Array.isArray(idx.manifests)) throw new LoadError(`image index ${d.digest} has no manifests list`);
      const inner = await pickManifest(ctx, idx.manifests, depth + 1);
      if (inner) return inner;
    } else if (d.mediaType === MEDIA.ociManifest || d.mediaType === MEDIA.dockerManifest) {
      return d;
    } else if (d.mediaType === undefined) {
      // some writers omit it: look inside
      const j = parseJson<{ manifests?: unknown; layers?: unknown }>(blobOf(ctx, d, 'manifest'), 'manifest');
      if (Array.isArray(j.manifests)) {
        const inner = await pickManifest(ctx, j.manifests as OciDescriptor[], depth + 1);
        if (inner) return inner;
      } else return { ...d, mediaType: MEDIA.ociManifest };
    } else {
      throw new LoadError(`unknown manifest media type "${d.mediaType}"`);
    }
  }
  return undefined;
}

async function planManifest(ctx: Ctx, d: OciDescriptor): Promise<Omit<ImagePlan, 'tags'>> {
  const mf = blobOf(ctx, d, 'manifest');
  const manifest = parseJson<OciManifest>(mf, 'manifest');
  if (!manifest.config || !Array.isArray(manifest.layers))
    throw new LoadError(`manifest ${d.digest} lacks config or layers`);
  if (manifest.config.mediaType !== MEDIA.ociConfig && manifest.config.mediaType !== MEDIA.dockerConfig) {
    throw new LoadError(`unknown config media type "${manifest.config.mediaType}" (not a container image?)`);
  }
  for (const l of manifest.layers) {
    if (!LAYER_MEDIA_TYPES.has(l.mediaType)) throw new LoadError(`unknown layer media type "${l.mediaType}"`);
  }
  const cf = blobOf(ctx, manifest.config, 'config');
  const config = parseJson<OciImageConfig>(cf, 'image config');
  checkPlatform(config);
  const layerFiles = manifest.layers.map((l) => blobOf(ctx, l, 'layer'));
  const diffIds = await stageLayers(ctx, config, layerFiles);
  stageSmall(ctx, mf);
  stageSmall(ctx, cf);
  for (const f of layerFiles) stageBlobFile(ctx, f);
  return {
    created: config.created ?? new Date(0).toISOString(),
    configDigest: cf.digest,
    manifestDigest: mf.digest,
    diffIds,
    layers: manifest.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  };
}

function checkPlatform(config: OciImageConfig): void {
  if (config.os && config.os !== 'linux') throw new LoadError(`image is for os "${config.os}", not linux`);
  if (config.architecture && config.architecture !== 'amd64')
    throw new LoadError(`image is for architecture "${config.architecture}", not amd64`);
}

/** Ensures every layer is unpacked (speculatively or now) and checks it against the config's diff IDs. */
async function stageLayers(ctx: Ctx, config: OciImageConfig, layerFiles: ArchiveFile[]): Promise<string[]> {
  const want = config.rootfs?.diff_ids;
  if (!Array.isArray(want) || want.length !== layerFiles.length) {
    throw new LoadError(
      `image config lists ${Array.isArray(want) ? want.length : 'no'} diff IDs for ${layerFiles.length} layers`,
    );
  }
  const out: string[] = [];
  for (let i = 0; i < layerFiles.length; i++) {
    const f = layerFiles[i]!;
    const expect = want[i]!;
    if (await ctx.store.hasLayer(expect)) {
      // Trust an existing layer only if this very blob produced it: either we unpacked it now and it
      // matches, or the store knows this blob digest → diff ID.
      const outcome = f.layer ? await f.layer : undefined;
      if (outcome?.ok && outcome.staged.diffId !== expect)
        throw new LoadError(`layer ${f.digest} unpacks to ${outcome.staged.diffId}, but the config says ${expect}`);
      if (!outcome?.ok && !(await blobKnownAs(ctx.store, f.digest, expect))) {
        await unpackNow(ctx, f, expect);
      }
      out.push(expect);
      continue;
    }
    await unpackNow(ctx, f, expect);
    out.push(expect);
  }
  return out;
}

async function unpackNow(ctx: Ctx, f: ArchiveFile, expect: string): Promise<void> {
  let outcome = f.layer ? await f.layer : undefined;
  if (!outcome) {
    if (!f.tmp && !f.data) throw new LoadError(`layer ${f.path} is not available`);
    const src = f.tmp ? new FileSource(f.tmp) : [f.data!];
    outcome = await ctx.store.stageLayer(ctx.s, src as AsyncIterable<Buffer>).then(
      (staged): LayerOutcome => ({ ok: true, staged }),
      (error: unknown): LayerOutcome => ({ ok: false, error }),
    );
    f.layer = Promise.resolve(outcome);
  }
  if (!outcome.ok) {
    const msg = outcome.error instanceof Error ? outcome.error.message : String(outcome.error);
    throw new LoadError(`layer ${f.path}: ${msg}`);
  }
  if (outcome.staged.diffId !== expect)
    throw new LoadError(`layer ${f.path} unpacks to ${outcome.staged.diffId}, but the image config says ${expect}`);
  ctx.s.layers.set(expect, outcome.staged);
}

async function blobKnownAs(store: ImageStore, digest: string, diffId: string): Promise<boolean> {
  return (await knownLayerBlobs(store)).get(digest) === diffId && (await store.blobAvailable(digest));
}

function stageSmall(ctx: Ctx, f: ArchiveFile): void {
  if (ctx.s.blobs.has(f.digest)) return;
  const p = join(ctx.s.dir, `blob-${f.digest.slice(7)}`);
  if (f.data) fs.writeFileSync(p, f.data, { mode: 0o600 });
  else if (f.tmp) {
    fs.renameSync(f.tmp, p);
    f.tmp = p;
  } else return; // already in the store
  ctx.s.blobs.set(f.digest, p);
}

function stageBlobFile(ctx: Ctx, f: ArchiveFile): void {
  stageSmall(ctx, f);
}

interface DockerManifestEntry {
  Config?: string;
  RepoTags?: string[] | null;
  Layers?: string[];
}

/** docker save: manifest.json → config + layer files (legacy <id>/layer.tar or OCI blobs). */
async function planDocker(ctx: Ctx): Promise<ImagePlan[]> {
  const entries = parseJson<DockerManifestEntry[]>(ctx.get('manifest.json')!, 'manifest.json');
  if (!Array.isArray(entries)) throw new LoadError('manifest.json is not a list');
  const plans: ImagePlan[] = [];
  for (const e of entries) {
    if (typeof e.Config !== 'string' || !Array.isArray(e.Layers))
      throw new LoadError('manifest.json entry lacks Config or Layers');
    const cf = ctx.get(e.Config);
    if (!cf) throw new LoadError(`config ${e.Config} named in manifest.json is missing`);
    const named = /([0-9a-f]{64})(\.json)?$/.exec(e.Config);
    if (named && cf.digest !== `sha256:${named[1]}`)
      throw new LoadError(`config ${e.Config} does not match its digest`);
    const config = parseJson<OciImageConfig>(cf, 'image config');
    checkPlatform(config);
    const layerFiles = e.Layers.map((p) => {
      const f = ctx.get(p);
      if (!f) throw new LoadError(`layer ${p} named in manifest.json is missing`);
      return f;
    });
    const diffIds = await stageLayers(ctx, config, layerFiles);
    // Synthesize an OCI manifest for what we keep (docker's layer.tar is uncompressed; blobs may be gzip).
    const layers: OciDescriptor[] = [];
    for (const f of layerFiles) {
      const c =
        f.compression ??
        (f.data ? sniffCompression(f.data.subarray(0, 4)) : await storedCompression(ctx.store, f.digest));
      layers.push({
        mediaType: c === 'gzip' ? MEDIA.ociLayerGzip : c === 'zstd' ? MEDIA.ociLayerZstd : MEDIA.ociLayer,
        digest: f.digest,
        size: f.size,
      });
      stageBlobFile(ctx, f);
    }
    stageSmall(ctx, cf);
    const manifest: OciManifest = {
      schemaVersion: 2,
      mediaType: MEDIA.ociManifest,
      config: { mediaType: MEDIA.ociConfig, digest: cf.digest, size: cf.size },
      layers,
    };
    const manifestDigest = await ctx.store.stageBlob(ctx.s, Buffer.from(JSON.stringify(manifest)));
    const tags = (e.RepoTags ?? []).map((t) => {
      try {
        return formatRef(parseRef(t.replace(/^docker\.io\/(library\/)?/, '')));
      } catch {
        throw new LoadError(`manifest.json has an invalid tag "${t}"`);
      }
    });
    plans.push({
      tags,
      created: config.created ?? new Date(0).toISOString(),
      configDigest: cf.digest,
      manifestDigest,
      diffIds,
      layers,
    });
  }
  return plans;
}

async function storedCompression(store: ImageStore, digest: string): Promise<string> {
  if (!(await store.hasBlob(digest))) return 'none'; // rebuilt from tar-split: uncompressed
  const fd = await fsp.open(store.blobPath(digest), 'r');
  try {
    const b = Buffer.alloc(4);
    await fd.read(b, 0, 4, 0);
    return sniffCompression(b);
  } finally {
    await fd.close();
  }
}
