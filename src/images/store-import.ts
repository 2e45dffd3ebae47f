import { promises as fsp } from 'node:fs';
import { TvctlError, isErrno } from '../errors.js';
import { sniffCompression } from './compression.js';
import { FileSource, PipeSource } from './file-source.js';
import type { LayerSource } from './layer.js';
import { MEDIA, type OciDescriptor, type OciImageConfig, type OciManifest } from './oci.js';
import { formatRef, parseRef } from './reference.js';
import { toRecord } from './store-db.js';
import { DEFAULT_PATH_ENV } from '../util/env.js';
import type { ImageRecord, ImageStore } from './store.js';

/**
 * `docker import`: one rootfs tar (or tar.gz / tar.zst) becomes a one-layer image. `input` is a file
 * path or a stream (a pipe on stdin).
 */
export async function importRootfs(
  store: ImageStore,
  input: string | AsyncIterable<Buffer> | { pipeFd: number },
  ref: string,
  opts: { message?: string } = {},
): Promise<ImageRecord> {
  const tag = formatRef(parseRef(ref));
  if (typeof input === 'string') await assertReadableFile(input);
  const s = await store.newStaging();
  try {
    // The layer blob is the uncompressed tar (digest = diff ID); it is not stored but rebuilt from the
    // unpacked dir and its tar-split when needed (image save).
    const layer = await store.stageLayer(
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
    const configDigest = await store.stageBlob(s, configBytes);
    const layerDesc: OciDescriptor = { mediaType: MEDIA.ociLayer, digest: layer.diffId, size: blobSize };
    const manifest: OciManifest = {
      schemaVersion: 2,
      mediaType: MEDIA.ociManifest,
      config: { mediaType: MEDIA.ociConfig, digest: configDigest, size: configBytes.length },
      layers: [layerDesc],
    };
    const manifestDigest = await store.stageBlob(s, Buffer.from(JSON.stringify(manifest)));
    const stored = await store.commit(
      s,
      { id: configDigest, created, manifestDigest, configDigest, diffIds: [layer.diffId], layers: [layerDesc] },
      [tag],
    );
    return toRecord(stored);
  } finally {
    await store.discardStaging(s);
  }
}

async function assertReadableFile(file: string): Promise<void> {
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
