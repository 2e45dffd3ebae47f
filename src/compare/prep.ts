/**
 * One-time preparation per mode, measured by doing it again into a scratch directory (the real caches stay
 * untouched): for containers, unpacking the image's layers from their stored blobs (what `image import/load`
 * does once per layer); for VMs, building the initramfs from the same layers (what `vm run` does once per
 * image and caches).
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ImageStore } from '../images/store.js';
import { unpackLayer } from '../images/unpack.js';

export interface PrepMeasurement {
  /** "layer unpack", "initramfs build" */
  what: string;
  ms: number;
  /** how it was measured */
  method: string;
  bytes?: number;
}

export async function measureLayerUnpack(dataRoot: string, imageRef: string): Promise<PrepMeasurement> {
  const store = new ImageStore(dataRoot);
  const img = await store.lookup(imageRef);
  await store.init();
  const scratch = await mkdtemp(join(store.tmpDir, 'compare-prep-'));
  try {
    // The store may keep a layer as a blob or only as its unpacked dir + tar-split: get each layer's archive
    // into a scratch file first (not timed), so the clock sees only the unpack.
    const archives: string[] = [];
    for (const [i, layer] of img.layers.entries()) {
      const file = join(scratch, `layer${i}.tar`);
      await pipeline(Readable.from(store.blobSource(layer.digest).chunks()), createWriteStream(file));
      archives.push(file);
    }
    let bytes = 0;
    const t0 = process.hrtime.bigint();
    for (const [i, file] of archives.entries()) {
      const dest = join(scratch, `layer${i}`, 'fs');
      await mkdir(dest, { recursive: true, mode: 0o755 });
      const r = await unpackLayer(createReadStream(file, { highWaterMark: 1 << 20 }), dest, scratch);
      bytes += r.size;
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    return {
      what: 'layer unpack',
      ms,
      bytes,
      method: `unpacked the image's ${img.layers.length} layer archive(s) again into a scratch dir, as image import/load does once per layer (reading the archive from a scratch copy)`,
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
