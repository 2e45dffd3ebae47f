import { writeFile } from '../util/fs-fast.js';
import os from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { TvctlError } from '../errors.js';
import { nativeBuildDir } from '../paths.js';

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

/** The shim relays on fd 3 of its own: `pid N` then EOF, or `error CODE MESSAGE` then EOF. */
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

function startError(exitCode: number, message: string): TvctlError {
  const code =
    exitCode === 127 ? 'COMMAND_NOT_FOUND' : exitCode === 126 ? 'COMMAND_NOT_EXECUTABLE' : 'CONTAINER_START_FAILED';
  return new TvctlError(code, message, exitCode);
}

export function launchShim(opts: LaunchShimOptions): LaunchedShim {
  const io = opts.stdio;
  const sub = execa(opts.tvinit ?? tvinitPath(), ['shim', opts.shimConfPath], {
    stdio: io === 'pipe' ? ['ignore', 'pipe', 'pipe', 'pipe'] : [io, io, io, 'pipe'],
    detached: opts.detached,
    reject: false,
    buffer: false,
    shell: false,
    // The container's environment comes from its conf, not from ours; the shim itself needs only PATH.
    env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
    extendEnv: false,
  });
  if (sub.pid === undefined) {
    throw new TvctlError(
      'SHIM_START_FAILED',
      `cannot start ${opts.tvinit ?? tvinitPath()}; run "npm run build" (make -C native)`,
    );
  }
  const shimPid = sub.pid;
  const exited = sub.then((r) => {
    if (typeof r.exitCode === 'number') return r.exitCode;
    if (r.signal) return 128 + (signalNumber(r.signal) ?? 0);
    if ('code' in r && r.code === 'ENOENT')
      throw new TvctlError('SHIM_START_FAILED', `${opts.tvinit ?? tvinitPath()} not found; run "npm run build"`);
    return 125;
  });
  const sync = sub.stdio[3];
  const ready = new Promise<{ initPid: number }>((resolve, reject) => {
    if (!sync) {
      reject(new TvctlError('SHIM_START_FAILED', 'no sync pipe to the shim'));
      return;
    }
    let text = '';
    sync.setEncoding('utf8');
    sync.on('data', (chunk: string) => (text += chunk));
    sync.on('error', () => undefined);
    sync.on('close', () => {
      const parsed = parseSyncLines(text);
      if (parsed.error) reject(startError(parsed.error.exitCode, parsed.error.message));
      else if (parsed.initPid !== undefined) resolve({ initPid: parsed.initPid });
      else {
        void exited.then(
          (code) =>
            reject(
              new TvctlError(
                'CONTAINER_START_FAILED',
                `container failed to start (shim exited with ${code})`,
                code === 0 ? 125 : code,
              ),
            ),
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
  const collect = (s: NodeJS.ReadableStream | null): Promise<string> =>
    new Promise((resolve) => {
      let text = '';
      if (!s) return resolve('');
      s.setEncoding('utf8');
      s.on('data', (c: string) => (text += c));
      s.on('error', () => resolve(text));
      s.on('close', () => resolve(text));
    });
  const output = Promise.all([collect(sub.stdout), collect(sub.stderr)]).then(([stdout, stderr]) => ({
    stdout,
    stderr,
  }));
  return { shimPid, ready, exited, output };
}

function signalNumber(name: string): number | undefined {
  const n = (os.constants.signals as Record<string, number | undefined>)[name];
  return n;
}
