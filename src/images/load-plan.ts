/**
 * `image load`, second step: which images an archive holds. Pure functions over the files the first step
 * read (load-stage.ts): they pick the manifests, check every descriptor against the files it names and
 * return one plan per image, without touching the store. Staging the plans' layers and blobs is
 * load.ts's business.
 */
import { TvctlError } from '../errors.js';
import {
  LAYER_MEDIA_TYPES,
  MEDIA,
  type OciDescriptor,
  type OciImageConfig,
  type OciIndex,
  type OciManifest,
} from './oci.js';
import { formatRef, parseRef } from './reference.js';

export class LoadError extends TvctlError {
  constructor(message: string) {
    super('BAD_ARCHIVE', message);
  }
}

/** A file of the archive as the planning sees it: small JSON files are in memory (`data`). */
export interface ArchiveEntry {
  path: string;
  size: number;
  /** sha256 of the content, checked against a blobs/sha256/ name while reading */
  digest: string;
  data?: Buffer;
}

export interface Platform {
  os: string;
  architecture: string;
}

export const DEFAULT_PLATFORM: Platform = { os: 'linux', architecture: 'amd64' };

/** What the planning reads: the archive's files by path (symlinks and hard links already followed). */
export interface PlanContext<F extends ArchiveEntry = ArchiveEntry> {
  get(path: string): F | undefined;
  platform?: Platform;
}

/** One image of the archive, checked as far as it can be without unpacking its layers. */
export interface ImagePlan<F extends ArchiveEntry = ArchiveEntry> {
  /** normalized name:tag references (docker.io/library/ dropped) */
  tags: string[];
  created: string;
  config: F;
  /**
   * The image's manifest and its layer descriptors, as the archive has them (OCI); undefined for an image
   * of docker's manifest.json, for which load.ts writes an OCI manifest of what it keeps.
   */
  manifest: { file: F; layers: OciDescriptor[] } | undefined;
  /** one per layer, in order (a file may appear more than once) */
  layerFiles: F[];
  /** the config's diff IDs, one per layer file */
  diffIds: string[];
}

/** The images of an OCI image layout or a docker-save archive; throws LoadError for anything else. */
export function planImages<F extends ArchiveEntry>(ctx: PlanContext<F>): ImagePlan<F>[] {
  const platform = ctx.platform ?? DEFAULT_PLATFORM;
  let plans: ImagePlan<F>[];
  if (ctx.get('index.json') && ctx.get('oci-layout')) plans = planOci(ctx);
  else if (ctx.get('manifest.json')) plans = planDocker(ctx);
  else if (ctx.get('repositories'))
    throw new LoadError(
      'this is a pre-1.10 docker-save archive (no manifest.json), which is not supported; re-save it with a newer Docker',
    );
  else
    throw new LoadError(
      'input is neither an OCI image layout (oci-layout, index.json) nor a docker-save archive (manifest.json)',
    );
  if (plans.length === 0) throw new LoadError(`the archive holds no image for ${platform.os}/${platform.architecture}`);
  return plans;
}

export function parseJson<T>(f: ArchiveEntry, what: string): T {
  try {
    if (!f.data) throw new Error('too large');
    return JSON.parse(f.data.toString('utf8')) as T;
  } catch (err) {
    throw new LoadError(`${what} (${f.path}) is not valid JSON: ${(err as Error).message}`);
  }
}

/** The blob a descriptor names, which must be in the archive with the size the descriptor says. */
function blobOf<F extends ArchiveEntry>(ctx: PlanContext<F>, d: OciDescriptor, what: string): F {
  if (!d || typeof d.digest !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(d.digest))
    throw new LoadError(`${what} has a missing or unsupported digest (${String(d?.digest)})`);
  const f = ctx.get(`blobs/sha256/${d.digest.slice(7)}`);
  if (!f) throw new LoadError(`${what} ${d.digest} is missing from the archive`);
  if (typeof d.size === 'number' && d.size !== f.size)
    throw new LoadError(`${what} ${d.digest} has size ${f.size}, but the descriptor says ${d.size}`);
  return f;
}

interface DockerManifestEntry {
  Config?: string;
  RepoTags?: string[] | null;
  Layers?: string[];
}

/** OCI layout: index.json's descriptors, grouped by image name; in each group the one for our platform. */
export function planOci<F extends ArchiveEntry>(ctx: PlanContext<F>): ImagePlan<F>[] {
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
  const groups = new Map<string, OciDescriptor[]>();
  for (const d of index.manifests) {
    const name =
      d.annotations?.['io.containerd.image.name'] ?? d.annotations?.['org.opencontainers.image.ref.name'] ?? '';
    // (a bare ref.name like "latest" groups but yields no tag; see tagFromAnnotation)
    groups.set(name, [...(groups.get(name) ?? []), d]);
  }
  const plans = new Map<string, ImagePlan<F>>();
  for (const [name, descs] of groups) {
    const manifestDesc = pickManifest(ctx, descs, 0);
    if (!manifestDesc) continue;
    const plan = planManifest(ctx, manifestDesc);
    // Tags from docker's manifest.json come first: they are the names docker itself gave the image.
    const tags = [
      ...(dockerTags.get(plan.config.digest) ?? []).map((t) => tagFromAnnotation(t)),
      ...(name ? [tagFromAnnotation(name)] : []),
    ].filter((t): t is string => !!t);
    const prev = plans.get(plan.config.digest);
    if (prev) prev.tags.push(...tags.filter((t) => !prev.tags.includes(t)));
    else plans.set(plan.config.digest, { ...plan, tags: [...new Set(tags)] });
  }
  return [...plans.values()];
}

/** docker.io/library/busybox:1 and busybox:1 are the same image name: keep the short form. */
function normalizeTag(t: string): string {
  return formatRef(parseRef(t.replace(/^docker\.io\/(library\/)?/, '')));
}

/** An OCI ref name is either a full reference or just a tag ("latest"); a bare tag has no repository. */
function tagFromAnnotation(name: string): string | undefined {
  if (!name.includes('/') && !name.includes(':')) return undefined;
  try {
    return normalizeTag(name);
  } catch {
    return undefined;
  }
}

/**
 * The manifest for our platform among `descs`, looking into nested indexes; an explicit platform match is
 * preferred over a descriptor without a platform.
 */
export function pickManifest<F extends ArchiveEntry>(
  ctx: PlanContext<F>,
  descs: OciDescriptor[],
  depth: number,
): OciDescriptor | undefined {
  if (depth > 4) throw new LoadError('image index nesting is too deep');
  const platform = ctx.platform ?? DEFAULT_PLATFORM;
  const fits = (d: OciDescriptor) =>
    !d.platform || (d.platform.os === platform.os && d.platform.architecture === platform.architecture);
  const candidates = descs.filter(fits);
  candidates.sort((a, b) => Number(!!b.platform) - Number(!!a.platform));
  for (const d of candidates) {
    if (d.mediaType === MEDIA.ociIndex || d.mediaType === MEDIA.dockerManifestList) {
      const idx = parseJson<OciIndex>(blobOf(ctx, d, 'image index'), 'image index');
      if (!Array.isArray(idx.manifests)) throw new LoadError(`image index ${d.digest} has no manifests list`);
      const inner = pickManifest(ctx, idx.manifests, depth + 1);
      if (inner) return inner;
    } else if (d.mediaType === MEDIA.ociManifest || d.mediaType === MEDIA.dockerManifest) {
      return d;
    } else if (d.mediaType === undefined) {
      // some writers omit it: look inside
      const j = parseJson<{ manifests?: unknown; layers?: unknown }>(blobOf(ctx, d, 'manifest'), 'manifest');
      if (Array.isArray(j.manifests)) {
        const inner = pickManifest(ctx, j.manifests as OciDescriptor[], depth + 1);
        if (inner) return inner;
      } else return { ...d, mediaType: MEDIA.ociManifest };
    } else {
      throw new LoadError(`unknown manifest media type "${d.mediaType}"`);
    }
  }
  return undefined;
}

function planManifest<F extends ArchiveEntry>(ctx: PlanContext<F>, d: OciDescriptor): Omit<ImagePlan<F>, 'tags'> {
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
  checkPlatform(ctx, config);
  const layerFiles = manifest.layers.map((l) => blobOf(ctx, l, 'layer'));
  return {
    created: config.created ?? new Date(0).toISOString(),
    config: cf,
    manifest: {
      file: mf,
      layers: manifest.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    },
    layerFiles,
    diffIds: diffIdsFor(config, layerFiles.length),
  };
}

function checkPlatform(ctx: PlanContext<ArchiveEntry>, config: OciImageConfig): void {
  const platform = ctx.platform ?? DEFAULT_PLATFORM;
  if (config.os && config.os !== platform.os) throw new LoadError(`image is for os "${config.os}", not ${platform.os}`);
  if (config.architecture && config.architecture !== platform.architecture)
    throw new LoadError(`image is for architecture "${config.architecture}", not ${platform.architecture}`);
}

/** The config's diff IDs, which must be one per layer. */
function diffIdsFor(config: OciImageConfig, layers: number): string[] {
  const want = config.rootfs?.diff_ids;
  if (!Array.isArray(want) || want.length !== layers) {
    throw new LoadError(`image config lists ${Array.isArray(want) ? want.length : 'no'} diff IDs for ${layers} layers`);
  }
  return want;
}

/** docker save: manifest.json → config + layer files (legacy <id>/layer.tar or OCI blobs). */
export function planDocker<F extends ArchiveEntry>(ctx: PlanContext<F>): ImagePlan<F>[] {
  const entries = parseJson<DockerManifestEntry[]>(ctx.get('manifest.json')!, 'manifest.json');
  if (!Array.isArray(entries)) throw new LoadError('manifest.json is not a list');
  const plans: ImagePlan<F>[] = [];
  for (const e of entries) {
    if (typeof e.Config !== 'string' || !Array.isArray(e.Layers))
      throw new LoadError('manifest.json entry lacks Config or Layers');
    const cf = ctx.get(e.Config);
    if (!cf) throw new LoadError(`config ${e.Config} named in manifest.json is missing`);
    const named = /([0-9a-f]{64})(\.json)?$/.exec(e.Config);
    if (named && cf.digest !== `sha256:${named[1]}`)
      throw new LoadError(`config ${e.Config} does not match its digest`);
    const config = parseJson<OciImageConfig>(cf, 'image config');
    checkPlatform(ctx, config);
    const layerFiles = e.Layers.map((p) => {
      const f = ctx.get(p);
      if (!f) throw new LoadError(`layer ${p} named in manifest.json is missing`);
      return f;
    });
    const diffIds = diffIdsFor(config, layerFiles.length);
    const tags = (e.RepoTags ?? []).map((t) => {
      try {
        return normalizeTag(t);
      } catch {
        throw new LoadError(`manifest.json has an invalid tag "${t}"`);
      }
    });
    plans.push({
      tags,
      created: config.created ?? new Date(0).toISOString(),
      config: cf,
      manifest: undefined,
      layerFiles,
      diffIds,
    });
  }
  return plans;
}
