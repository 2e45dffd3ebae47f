import { createExclusive, mkdir, readFile, rename, unlink } from './fs-fast.js';
import { dirname } from 'node:path';
import { TvctlError, isErrno } from '../errors.js';

/**
 * A lock file (O_CREAT|O_EXCL) holding the owner's pid; it serialises processes and, since each holder creates
 * the file anew, concurrent callers inside one process too. A lock whose owner is dead (kill -9 of a tvctl) is
 * taken over: the stale file is renamed away atomically so that of two contenders only one succeeds.
 * `createDir` makes the lock's directory first (host-wide locks); a container's lock must not, so that a
 * removed container stays removed.
 */
export async function withLock<T>(
  path: string,
  fn: () => Promise<T>,
  opts: { timeoutMs?: number; createDir?: boolean } = {},
): Promise<T> {
  if (opts.createDir) await mkdir(dirname(path), { recursive: true });
  await acquire(path, opts.timeoutMs ?? 30_000);
  try {
    return await fn();
  } finally {
    await unlink(path).catch(() => undefined);
  }
}

async function acquire(path: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delay = 2;
  for (;;) {
    try {
      await createExclusive(path, String(process.pid), 0o600);
      return;
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
    }
    const owner = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
    if (owner > 0 && !pidAlive(owner)) {
      // Stale: move it aside (only one contender's rename succeeds), then retry at once.
      const aside = `${path}.stale.${process.pid}`;
      if (
        await rename(path, aside).then(
          () => true,
          () => false,
        )
      ) {
        const moved = Number.parseInt(await readFile(aside, 'utf8').catch(() => ''), 10);
        // Someone else replaced the stale lock between our read and rename: give theirs back.
        if (moved !== owner) await rename(aside, path).catch(() => undefined);
        else await unlink(aside).catch(() => undefined);
      }
      continue;
    }
    if (Date.now() > deadline) {
      throw new TvctlError('LOCK_TIMEOUT', `timed out waiting for lock ${path} (held by pid ${owner || '?'})`);
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 50);
  }
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isErrno(err, 'EPERM');
  }
}
