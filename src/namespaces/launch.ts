import { writeFile } from '../util/fs-fast.js';
import os from 'node:os';
import { join } from 'node:path';
import { TvctlError } from '../errors.js';
import { SHIM_SYNC_FD } from './fds.js';
import { nativeBuildDir } from '../paths.js';
import { readText, startCommand } from '../util/exec.js';

/** The static container helper built from native/tvinit. */
export function tvinitPath(): string {
  return join(nativeBuildDir(), 'tvinit');
}

/** Conf files hold the container's command and environment: owner-only. */
export async function writeConfFile(path: string, conf: Buffer): Promise<void> {
  await writeFile(path, conf, { mode: 0o600 });
}

export interface LaunchShimOptions {
  shimConfPath: string;
  /**
   * 'inherit': foreground (container stdio = ours); 'ignore': detached (logs go to the conf's log file);
   * 'pipe': stdin closed, stdout/stderr collected into `output` (tests, programmatic runs).
   */
  stdio: 'inherit' | 'ignore' | 'pipe';
  /** New session, not tied to this process: the shim outlives Node. */
  detached: boolean;
  /** Override the binary (tests). */
  tvinit?: string;
}

export interface LaunchedShim {
  shimPid: number;
  /** Resolves once the user's program was exec'd; rejects with the init's error (code 125/126/127). */
  ready: Promise<{ initPid: number }>;
  /** The shim's exit code (= the container's, 128+N when killed by signal N). Detached: only while we live. */
  exited: Promise<number>;
  /** stdio 'pipe' only: everything the container wrote, once it has exited. */
  output?: Promise<{ stdout: string; stderr: string }>;
}

/** The shim relays on its fd SHIM_SYNC_FD: `pid N` then EOF, or `error CODE MESSAGE` then EOF. */
export function parseSyncLines(text: string): { initPid?: number; error?: { exitCode: number; message: string } } {
  const out: { initPid?: number; error?: { exitCode: number; message: string } } = {};
  for (const line of text.split('\n')) {
    const pid = /^pid (\d+)$/.exec(line);
    if (pid) out.initPid = Number(pid[1]);
    const err = /^error (\d+) (.*)$/.exec(line);
    if (err && !out.error) out.error = { exitCode: Number(err[1]), message: err[2] ?? '' };
  }
  return out;
}

/** The init's 127 and 126 are Docker's "command not found" and "cannot invoke"; anything else is tvctl's 125. */
function startError(exitCode: number, message: string): TvctlError {
  const code =
    exitCode === 127 ? 'COMMAND_NOT_FOUND' : exitCode === 126 ? 'COMMAND_NOT_EXECUTABLE' : 'CONTAINER_START_FAILED';
  return new TvctlError(code, message);
}

export function launchShim(opts: LaunchShimOptions): LaunchedShim {
  const io = opts.stdio;
  const sub = startCommand(
    { file: opts.tvinit ?? tvinitPath(), args: ['shim', opts.shimConfPath] },
    {
      // stdin, stdout, stderr, then the sync pipe at index SHIM_SYNC_FD (3)
      stdio: io === 'pipe' ? ['ignore', 'pipe', 'pipe', 'pipe'] : [io, io, io, 'pipe'],
      detached: opts.detached,
      // The container's environment comes from its conf, not from ours; the shim itself needs only PATH.
      env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
    },
  );
  if (sub.pid === undefined) {
    throw new TvctlError(
      'SHIM_START_FAILED',
      `cannot start ${opts.tvinit ?? tvinitPath()}; run "npm run build" (make -C native)`,
    );
  }
  const shimPid = sub.pid;
  const exited = sub.exited.then((r) => {
    if (r.exitCode !== undefined) return r.exitCode;
    if (r.signal) return 128 + (signalNumber(r.signal) ?? 0);
    if (r.notFound)
      throw new TvctlError('SHIM_START_FAILED', `${opts.tvinit ?? tvinitPath()} not found; run "npm run build"`);
    return 125;
  });
  const sync = sub.pipe(SHIM_SYNC_FD);
  const ready = new Promise<{ initPid: number }>((resolve, reject) => {
    if (!sync) {
      reject(new TvctlError('SHIM_START_FAILED', 'no sync pipe to the shim'));
      return;
    }
    void readText(sync).then((text) => {
      const parsed = parseSyncLines(text);
      if (parsed.error) reject(startError(parsed.error.exitCode, parsed.error.message));
      else if (parsed.initPid !== undefined) resolve({ initPid: parsed.initPid });
      else {
        void exited.then(
          (code) => reject(startError(code, `container failed to start (shim exited with ${code})`)),
          reject,
        );
      }
      if (opts.detached) sub.unref();
    });
  });
  // Callers that only await one of the two must not get an unhandled rejection from the other.
  ready.catch(() => undefined);
  exited.catch(() => undefined);
  if (io !== 'pipe') return { shimPid, ready, exited };
  const output = Promise.all([readText(sub.pipe(1)), readText(sub.pipe(2))]).then(([stdout, stderr]) => ({
    stdout,
    stderr,
  }));
  return { shimPid, ready, exited, output };
}

function signalNumber(name: string): number | undefined {
  const n = (os.constants.signals as Record<string, number | undefined>)[name];
  return n;
}
