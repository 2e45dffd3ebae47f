import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/cli.js';
import { provided, withReason } from '../helpers/prereq.js';

const EXEC_JS = join(REPO, 'dist', 'lib', 'util', 'exec.js');
const notBuilt = provided(existsSync(EXEC_JS) ? undefined : 'dist/ is not built (npm run build)');

/** Starts a Node process that starts `sleep 600` through startCommand and prints the child's pid. */
async function parentWithChild(detached: boolean): Promise<{ parent: ReturnType<typeof spawn>; childPid: number }> {
  const script = `
    const { startCommand } = await import(${JSON.stringify(EXEC_JS)});
    const c = startCommand({ file: 'sleep', args: ['600'] }, { stdio: ['ignore', 'ignore', 'ignore'], detached: ${detached} });
    if (${detached}) c.unref();
    console.log(c.pid);
    setInterval(() => {}, 1000);`;
  const parent = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const childPid = await new Promise<number>((resolve, reject) => {
    parent.stdout!.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
    parent.once('exit', (code) => reject(new Error(`parent exited (${code}) before starting its child`)));
  });
  return { parent, childPid };
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function gone(pid: number, ms = 3000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
    if (!alive(pid)) return true;
  }
  return !alive(pid);
}

describe('startCommand: an attached child never outlives tvctl', () => {
  it.skipIf(notBuilt)(withReason('is killed when tvctl dies of SIGTERM, SIGHUP or SIGINT', notBuilt), async () => {
    for (const sig of ['SIGTERM', 'SIGHUP', 'SIGINT'] as const) {
      const { parent, childPid } = await parentWithChild(false);
      expect(alive(childPid), sig).toBe(true);
      const ended = new Promise<NodeJS.Signals | null>((r) => parent.once('exit', (_c, s) => r(s)));
      parent.kill(sig);
      expect(await ended, 'tvctl still dies of the signal').toBe(sig);
      expect(await gone(childPid), `child after ${sig}`).toBe(true);
    }
  });

  it.skipIf(notBuilt)(
    withReason('a detached child stays (a container supervisor outlives the CLI)', notBuilt),
    async () => {
      const { parent, childPid } = await parentWithChild(true);
      const ended = new Promise((r) => parent.once('exit', r));
      parent.kill('SIGTERM');
      await ended;
      try {
        expect(alive(childPid)).toBe(true);
      } finally {
        process.kill(childPid, 'SIGKILL');
      }
    },
  );
});
