import { open, readFile, rename, unlink, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isErrno, TvctlError } from '../errors.js';

/**
 * Exclusive lock file (O_CREAT|O_EXCL) holding the owner's pid; serialises processes and, since each holder
 * creates the file anew, also concurrent callers inside one process. A lock left by a dead pid (kill -9) is
 * moved aside atomically and retaken.
 */
export async function withFileLock<T>(path: string, fn: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  await mkdir(dirname(path), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  let delay = 1;
  for (;;) {
    try {
      const fh = await open(path, 'wx', 0o600);
      await fh.writeFile(String(process.pid));
      await fh.close();
      break;
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
    }
    const owner = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
    if (owner > 0 && !alive(owner)) {
      const aside = `${path}.stale.${process.pid}.${Math.random().toString(16).slice(2)}`;
      if (await rename(path, aside).then(() => true, () => false)) {
        const moved = Number.parseInt(await readFile(aside, 'utf8').catch(() => ''), 10);
        if (moved !== owner) await rename(aside, path).catch(() => undefined);
        else await unlink(aside).catch(() => undefined);
      }
      continue;
    }
    if (Date.now() > deadline) {
      throw new TvctlError('LOCK_TIMEOUT', `timed out waiting for ${path} (held by pid ${owner || '?'})`);
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 25);
  }
  try {
    return await fn();
  } finally {
    await unlink(path).catch(() => undefined);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isErrno(err, 'EPERM');
  }
}
