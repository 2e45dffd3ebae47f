import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import { MEDIA, type OciDescriptor, type OciIndex } from './oci.js';
import { formatRef, parseRef, splitRepoTag } from './reference.js';
import { SideTarWriter } from './tar-writer.js';
import type { ImageStore, StoredImage } from './store.js';

/** An image to save, with the tags the archive gives it. */
export interface ImageToSave {
  img: StoredImage;
  tags: string[];
}

/**
 * The images that `refs` name, each once: a name saves that tag, an id all of the image's tags.
 */
export async function pickImagesToSave(store: ImageStore, refs: string[]): Promise<ImageToSave[]> {
  const picked = new Map<string, ImageToSave>();
  for (const ref of refs) {
    const img = await store.lookup(ref);
    const entry = picked.get(img.id) ?? { img, tags: [] };
    let tag: string | undefined;
    try {
      tag = formatRef(parseRef(ref));
    } catch {
      tag = undefined;
    }
    const tags = tag && img.repoTags.includes(tag) ? [tag] : img.repoTags;
    for (const t of tags) if (!entry.tags.includes(t)) entry.tags.push(t);
    picked.set(img.id, entry);
  }
  return [...picked.values()];
}

/** saveImages into `file`, which appears only once it is complete. */
export async function saveImagesToFile(
  store: ImageStore,
  images: ImageToSave[],
  file: string,
): Promise<{ bytes: number; blobs: number }> {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    const r = await saveImages(store, images, tmp);
    await fsp.rename(tmp, file);
    return r;
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
}

/**
 * `image save`: an OCI image layout as a tar (oci-layout, index.json, blobs/sha256/…), plus Docker's
 * manifest.json so `docker load` takes it too (the shape Docker ≥ 25 writes). Blobs are the exact bytes
 * that were loaded, so digests are unchanged.
 */
export async function saveImages(
  store: ImageStore,
  images: ImageToSave[],
  out: string | number,
): Promise<{ bytes: number; blobs: number }> {
  const blobs = new Map<string, number>();
  const manifests: OciDescriptor[] = [];
  const dockerManifest: { Config: string; RepoTags: string[]; Layers: string[] }[] = [];
  for (const { img, tags } of images) {
    for (const d of [img.configDigest, img.manifestDigest, ...img.layers.map((l) => l.digest)]) {
      blobs.set(d, store.blobSource(d).size);
    }
    const mdesc: OciDescriptor = {
      mediaType: MEDIA.ociManifest,
      digest: img.manifestDigest,
      size: blobs.get(img.manifestDigest)!,
    };
    if (tags.length === 0) manifests.push(mdesc);
    for (const t of tags) {
      manifests.push({
        ...mdesc,
        annotations: { 'io.containerd.image.name': t, 'org.opencontainers.image.ref.name': splitRepoTag(t).tag },
      });
    }
    dockerManifest.push({
      Config: blobName(img.configDigest),
      RepoTags: tags,
      Layers: img.layers.map((l) => blobName(l.digest)),
    });
  }
  const index: OciIndex = { schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests };
  const fd = typeof out === 'number' ? out : fs.openSync(out, 'w', 0o644);
  let bytes = 0;
  try {
    const w = new SideTarWriter(fd);
    const now = new Date();
    const meta = { mode: 0o644, uid: 0, gid: 0, mtime: now };
    const small = (path: string, data: Buffer) => {
      w.add({ path, type: 'File', size: data.length, ...meta }, data);
      bytes += data.length;
    };
    small('oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
    w.add({ path: 'blobs/', type: 'Directory', size: 0, ...meta, mode: 0o755 });
    w.add({ path: 'blobs/sha256/', type: 'Directory', size: 0, ...meta, mode: 0o755 });
    for (const [digest, size] of blobs) {
      w.add({ path: blobName(digest), type: 'File', size, ...meta });
      let n = 0;
      for (const c of store.blobSource(digest).chunks()) {
        w.append(c);
        n += c.length;
      }
      if (n !== size) throw new Error(`blob ${digest} changed size while saving`);
      w.pad(size);
      bytes += size;
    }
    small('index.json', Buffer.from(JSON.stringify(index)));
    small('manifest.json', Buffer.from(JSON.stringify(dockerManifest)));
    w.end();
  } finally {
    if (typeof out !== 'number') fs.closeSync(fd);
  }
  return { bytes, blobs: blobs.size };
}

function blobName(digest: string): string {
  return `blobs/sha256/${digest.replace(/^sha256:/, '')}`;
}
