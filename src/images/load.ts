import { promises as fsp } from 'node:fs';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { TvctlError, isErrno } from '../errors.js';
import { trace } from '../util/trace.js';
import { sniffCompression } from './compression.js';
import { FileSource } from './file-source.js';
import { walkInput, type LoadInput } from './load-input.js';
import { LoadError, planImages, type ImagePlan } from './load-plan.js';
import { ArchiveStager, outcomeOf, type ArchiveFile, type LoadProgress } from './load-stage.js';
import { MEDIA, type OciDescriptor, type OciManifest } from './oci.js';
import type { ImageStore, Staging, StoredImage } from './store.js';

export interface LoadedImage {
  id: string;
  repoTags: string[];
  layers: number;
  /** layers that were new to the store */
  newLayers: number;
}

/**
 * `image load`: an OCI image layout (directory or tar) or a docker-save archive (OCI-based or legacy
 * <id>/layer.tar), from a file, a directory or a stream. The input is read once: every file is hashed
 * and staged as it streams by, and anything that looks like a layer is unpacked at the same time into
 * staging (load-stage.ts). Only then are the index/manifests/configs interpreted (load-plan.ts), every
 * digest and size checked, and the images committed; any failure leaves the store as it was.
 */
export async function loadImages(
  store: ImageStore,
  input: LoadInput,
  progress: LoadProgress = {},
): Promise<LoadedImage[]> {
  trace(`image load: start (${input.file !== undefined ? 'file' : 'stream'})`);
  const known = await knownLayerBlobs(store);
  const s = await store.newStaging();
  const ctx: StageContext = { store, s, known };
  const archive = new ArchiveStager(store, s, known, progress);
  try {
    await walkInput(input, archive, (read, total) => progress.onBytes?.(read, total));
    await archive.unpacked();
    trace('image load: input read, layers unpacked');
    // Everything is staged before anything is committed: a bad layer of one image registers none.
    const images: { plan: ImagePlan<ArchiveFile>; image: ImageToCommit }[] = [];
    for (const plan of planImages(archive)) images.push({ plan, image: await stageImage(ctx, plan) });
    const out: LoadedImage[] = [];
    for (const { plan, image } of images) {
      let newLayers = 0;
      for (const d of image.diffIds) if (s.layers.has(d) && !(await store.hasLayer(d))) newLayers++;
      const stored: StoredImage = await store.commit(s, { id: image.configDigest, ...image }, plan.tags);
      out.push({ id: stored.id, repoTags: plan.tags, layers: image.diffIds.length, newLayers });
    }
    trace('image load: committed');
    return out;
  } catch (err) {
    if (isErrno(err, 'ENOSPC'))
      throw new TvctlError('NO_SPACE', 'no space left on device while loading the image; nothing was registered');
    if (err instanceof TvctlError) throw err;
    throw new LoadError(`loading failed: ${(err as Error).message}`);
  } finally {
    await archive.unpacked();
    await store.discardStaging(s);
  }
}

/**
 * `image load --tag`: also tags the one image the archive held (the tag as the store normalized it joins
 * its repoTags).
 */
export async function tagLoadedImage(store: ImageStore, loaded: LoadedImage[], tag: string): Promise<void> {
  if (loaded.length !== 1)
    throw new TvctlError('BAD_USAGE', `--tag needs exactly one image in the archive; it has ${loaded.length}`);
  const image = loaded[0]!;
  await store.tag(image.id, tag);
  image.repoTags.push((await store.lookup(tag)).repoTags.find((t) => t.startsWith(tag.split(':')[0]!)) ?? tag);
}

interface StageContext {
  store: ImageStore;
  s: Staging;
  /** blob digest → diff ID of the layers in the store when the load started */
  known: Map<string, string>;
}

type ImageToCommit = Omit<StoredImage, 'id' | 'size' | 'repoTags' | 'loaded'>;

/** blob digest → diff ID for every layer already in the store (to skip re-unpacking). */
async function knownLayerBlobs(store: ImageStore): Promise<Map<string, string>> {
  const m = new Map<string, string>();
  for (const img of await store.listStored())
    img.layers.forEach((l, i) => img.diffIds[i] && m.set(l.digest, img.diffIds[i]!));
  return m;
}

/** Stages what a planned image keeps: its layers (checked against the config), config and manifest blobs. */
async function stageImage(ctx: StageContext, plan: ImagePlan<ArchiveFile>): Promise<ImageToCommit> {
  for (let i = 0; i < plan.layerFiles.length; i++) await stageLayer(ctx, plan.layerFiles[i]!, plan.diffIds[i]!);
  const image = { created: plan.created, configDigest: plan.config.digest, diffIds: plan.diffIds };
  if (plan.manifest) {
    stageArchiveBlob(ctx, plan.manifest.file);
    stageArchiveBlob(ctx, plan.config);
    for (const f of plan.layerFiles) stageArchiveBlob(ctx, f);
    return { ...image, manifestDigest: plan.manifest.file.digest, layers: plan.manifest.layers };
  }
  // An OCI manifest for what we keep (docker's layer.tar is uncompressed; blobs may be gzip).
  const layers: OciDescriptor[] = [];
  for (const f of plan.layerFiles) {
    const c =
      f.compression ??
      (f.data ? sniffCompression(f.data.subarray(0, 4)) : await storedCompression(ctx.store, f.digest));
    layers.push({
      mediaType: c === 'gzip' ? MEDIA.ociLayerGzip : c === 'zstd' ? MEDIA.ociLayerZstd : MEDIA.ociLayer,
      digest: f.digest,
      size: f.size,
    });
    stageArchiveBlob(ctx, f);
  }
  stageArchiveBlob(ctx, plan.config);
  const manifest: OciManifest = {
    schemaVersion: 2,
    mediaType: MEDIA.ociManifest,
    config: { mediaType: MEDIA.ociConfig, digest: plan.config.digest, size: plan.config.size },
    layers,
  };
  const manifestDigest = await ctx.store.stageBlob(ctx.s, Buffer.from(JSON.stringify(manifest)));
  return { ...image, manifestDigest, layers };
}

/** Makes sure layer file `f` is unpacked (while reading, or now) and is the layer `diffId`. */
async function stageLayer(ctx: StageContext, f: ArchiveFile, diffId: string): Promise<void> {
  if (await ctx.store.hasLayer(diffId)) {
    // Trust an existing layer only if this very blob produced it: either we unpacked it now and it
    // matches, or the store knows this blob digest → diff ID.
    const outcome = f.layer ? await f.layer : undefined;
    if (outcome?.ok && outcome.staged.diffId !== diffId)
      throw new LoadError(`layer ${f.digest} unpacks to ${outcome.staged.diffId}, but the config says ${diffId}`);
    if (outcome?.ok) return;
    if (ctx.known.get(f.digest) === diffId && (await ctx.store.blobAvailable(f.digest))) return;
  }
  let outcome = f.layer ? await f.layer : undefined;
  if (!outcome) {
    if (!f.tmp && !f.data) throw new LoadError(`layer ${f.path} is not available`);
    f.layer = outcomeOf(ctx.store.stageLayer(ctx.s, f.tmp ? new FileSource(f.tmp) : [f.data!]));
    outcome = await f.layer;
  }
  if (!outcome.ok) {
    const msg = outcome.error instanceof Error ? outcome.error.message : String(outcome.error);
    throw new LoadError(`layer ${f.path}: ${msg}`);
  }
  if (outcome.staged.diffId !== diffId)
    throw new LoadError(`layer ${f.path} unpacks to ${outcome.staged.diffId}, but the image config says ${diffId}`);
  ctx.s.layers.set(diffId, outcome.staged);
}

/** Moves a kept file of the archive into staging as the blob it is (nothing if the store has it). */
function stageArchiveBlob(ctx: StageContext, f: ArchiveFile): void {
  if (ctx.s.blobs.has(f.digest)) return;
  const p = join(ctx.s.dir, `blob-${f.digest.slice(7)}`);
  if (f.data) fs.writeFileSync(p, f.data, { mode: 0o600 });
  else if (f.tmp) {
    fs.renameSync(f.tmp, p);
    f.tmp = p;
  } else return; // already in the store
  ctx.s.blobs.set(f.digest, p);
}

/** The compression of a layer blob the store has; one it does not keep is rebuilt from tar-split: none. */
async function storedCompression(store: ImageStore, digest: string): Promise<string> {
  if (!(await store.hasBlob(digest))) return 'none';
  const fd = await fsp.open(store.blobPath(digest), 'r');
  try {
    const b = Buffer.alloc(4);
    await fd.read(b, 0, 4, 0);
    return sniffCompression(b);
  } finally {
    await fd.close();
  }
}
