/**
 * VM preparation: the initramfs built from the image's layers plus the guest init (what `vm run` caches per
 * image), built again into a scratch file with the VM module's own builder and timed.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ImageStore } from '../images/store.js';
import { nativeBuildDir } from '../paths.js';
import { buildInitramfs, opaqueScannerFromHelper } from '../vm/initramfs.js';
import type { PrepMeasurement } from './prep.js';

export async function measureInitramfsBuild(dataRoot: string, imageRef: string): Promise<PrepMeasurement> {
  const store = new ImageStore(dataRoot);
  const img = await store.resolve(imageRef);
  await store.init();
  const scratch = await mkdtemp(join(store.tmpDir, 'compare-prep-vm-'));
  try {
    const out = join(scratch, 'initramfs.cpio');
    const t0 = process.hrtime.bigint();
    const r = await buildInitramfs({
      layerDirs: img.layerDirs,
      guestInit: join(nativeBuildDir(), 'tvctl-guestinit'),
      out,
      scanOpaque: opaqueScannerFromHelper(join(nativeBuildDir(), 'tvctl-opaque-scan')),
    });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    return {
      what: 'initramfs build',
      ms,
      bytes: r.bytes || (await stat(out)).size,
      method: `built the cpio initramfs (${r.entries} entries, ${r.bytes} bytes) from the image's unpacked layers plus the guest init into a scratch file, as vm run does once per image`,
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
