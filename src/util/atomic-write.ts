import { randomBytes } from 'node:crypto';
import { renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { rename, unlink, writeFile } from 'node:fs/promises';

/**
 * Replaces a file atomically: the data goes to a temp file in the same directory (so that the rename cannot
 * cross a file system), which is then renamed over the target. A reader sees the old file or the new one,
 * never a part; a failed write leaves the old file and no temp file behind.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const tmp = tempName(path);
  try {
    await writeFile(tmp, data, { mode });
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** The same, synchronously, for paths that run before the event loop matters (CLI start, exit handlers). */
export function writeFileAtomicSync(path: string, data: string | Uint8Array, mode = 0o600): void {
  const tmp = tempName(path);
  try {
    writeFileSync(tmp, data, { mode });
    renameSync(tmp, path);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // never written
    }
    throw err;
  }
}

function tempName(path: string): string {
  return `${path}.tmp.${process.pid}.${randomBytes(4).toString('hex')}`;
}
