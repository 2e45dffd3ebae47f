import { promises as fsp } from 'node:fs';
import { isErrno, TvctlError } from '../errors.js';

/**
 * An exclusive lock file created with O_EXCL ('wx'), holding the owner's pid. A lock whose owner is gone
 * (pid not alive) is stale and taken over. Held only for short metadata commits, never during unpacking.
 */
export async function withLock<T>(path: string, fn: () => Promise<T>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const h = await fsp.open(path, 'wx', 0o600);
      await h.writeFile(`${process.pid}\n`);
      await h.close();
      break;
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
      const owner = Number((await fsp.readFile(path, 'utf8').catch(() => '')).trim());
      if (owner > 0 && owner !== process.pid && !alive(owner)) {
        // Stale: rename it away first so two waiters cannot both delete a fresh lock.
        const aside = `${path}.stale-${process.pid}`;
        await fsp.rename(path, aside).then(() => fsp.rm(aside, { force: true }), () => undefined);
        continue;
      }
      if (Date.now() > deadline) throw new TvctlError('STORE_LOCKED', `image store is locked by pid ${owner || '?'} (${path}); retry later`);
      await new Promise((r) => setTimeout(r, 25 + Math.random() * 50));
    }
  }
  try {
    return await fn();
  } finally {
    await fsp.rm(path, { force: true });
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isErrno(err, 'EPERM');
  }
}
