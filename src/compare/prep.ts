/**
 * One-time preparation per mode, measured by doing it again into a scratch directory (the real caches stay
 * untouched): for containers, unpacking the image's layers from their stored blobs (what `image import/load`
 * does once per layer); for VMs, building the initramfs from the same layers plus the guest init (what
 * `vm run` does once per image and caches), with the VM module's own builder.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ImageStore } from '../images/store.js';
import { unpackLayer } from '../images/unpack.js';
import { nativeBuildDir } from '../paths.js';
import { buildInitramfs, opaqueScannerFromHelper } from '../vm/initramfs.js';

export interface PrepMeasurement {
  /** "layer unpack", "initramfs build" */
  what: string;
  ms: number;
  /** how it was measured */
  method: string;
  bytes?: number;
}

/** Runs `work` in a scratch dir under the store's tmp dir, removed afterwards. */
async function inScratch<T>(store: ImageStore, work: (scratch: string) => Promise<T>): Promise<T> {
  await store.init();
  const scratch = await mkdtemp(join(store.tmpDir, 'compare-prep-'));
  try {
    return await work(scratch);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Milliseconds since `t0` (process.hrtime.bigint()). */
function msSince(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

export async function measureLayerUnpack(dataRoot: string, imageRef: string): Promise<PrepMeasurement> {
  const store = new ImageStore(dataRoot);
  const img = await store.lookup(imageRef);
  return inScratch(store, async (scratch) => {
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
    return {
      what: 'layer unpack',
      ms: msSince(t0),
      bytes,
      method: `unpacked the image's ${img.layers.length} layer archive(s) again into a scratch dir, as image import/load does once per layer (reading the archive from a scratch copy)`,
    };
  });
}

export async function measureInitramfsBuild(dataRoot: string, imageRef: string): Promise<PrepMeasurement> {
  const store = new ImageStore(dataRoot);
  const img = await store.resolve(imageRef);
  return inScratch(store, async (scratch) => {
    const out = join(scratch, 'initramfs.cpio');
    const t0 = process.hrtime.bigint();
    const r = await buildInitramfs({
      layerDirs: img.layerDirs,
      guestInit: join(nativeBuildDir(), 'tvctl-guestinit'),
      out,
      scanOpaque: opaqueScannerFromHelper(join(nativeBuildDir(), 'tvctl-opaque-scan')),
    });
    const ms = msSince(t0);
    return {
      what: 'initramfs build',
      ms,
      bytes: r.bytes || (await stat(out)).size,
      method: `built the cpio initramfs (${r.entries} entries, ${r.bytes} bytes) from the image's unpacked layers plus the guest init into a scratch file, as vm run does once per image`,
    };
  });
}
