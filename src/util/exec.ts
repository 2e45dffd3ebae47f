import { spawn } from 'node:child_process';
import { onExit } from 'signal-exit';
import { Readable } from 'node:stream';
import type { Writable } from 'node:stream';
import type { Options as ExecaOptions } from 'execa';
import { TvctlError } from '../errors.js';

/**
 * execa, loaded on first use: many commands that import this module never spawn anything, and loading execa's
 * ESM graph costs ~60 ms of their start (the startup snapshot has it loaded already).
 */
const loadExeca = async (): Promise<typeof import('execa').execa> => (await import('execa')).execa;

/** An external command line, built by a pure function and executed by `runCommand`. */
export interface CommandLine {
  file: string;
  args: readonly string[];
}

export interface CommandResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/**
 * The one place that spawns external programs and waits for them. Never uses a shell. A non-zero exit
 * becomes a TvctlError carrying the program's stderr, unless `allowFailure` is set.
 */
export async function runCommand(
  cmd: CommandLine,
  opts: {
    allowFailure?: boolean;
    input?: string;
    /** a descriptor of ours as the program's stdin (instead of `input`) */
    stdinFd?: number;
    env?: NodeJS.ProcessEnv;
    timeoutMs?: number;
    cwd?: string;
  } = {},
): Promise<CommandResult> {
  const options: ExecaOptions = {
    reject: false,
    stripFinalNewline: true,
    shell: false,
    ...(opts.input !== undefined ? { input: opts.input } : {}),
    ...(opts.stdinFd !== undefined ? { stdin: opts.stdinFd as 3 } : {}),
    ...(opts.env !== undefined ? { env: opts.env } : {}),
    ...(opts.timeoutMs !== undefined ? { timeout: opts.timeoutMs } : {}),
    ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
  };
  const execa = await loadExeca();
  const r = await execa(cmd.file, [...cmd.args], options);
  if ('code' in r && r.code === 'ENOENT') {
    throw new TvctlError('ENOENT', `${cmd.file}: command not found; install it (see README set-up)`);
  }
  const result: CommandResult = {
    stdout: String(r.stdout ?? ''),
    stderr: String(r.stderr ?? ''),
    exitCode: r.exitCode ?? (r.signal ? 128 : 1),
  };
  if (result.exitCode !== 0 && !opts.allowFailure) {
    const detail = (result.stderr || result.stdout).trim().split('\n').pop() ?? '';
    throw new TvctlError(
      'COMMAND_FAILED',
      `${cmd.file} ${cmd.args.join(' ')} failed (exit ${result.exitCode}): ${detail}`,
    );
  }
  return result;
}

/** Streams `input` into a filter's stdin; the returned getter tells whether reading the input failed. */
function feedStdin(
  child: { stdin: Writable | null; kill(): unknown },
  input: AsyncIterable<Uint8Array>,
): () => unknown {
  let inputError: unknown;
  const src = Readable.from(input);
  src.on('error', (err) => {
    inputError = err;
    child.kill();
  });
  child.stdin!.on('error', () => undefined); // EPIPE when the program exits early; its exit status tells the story
  src.pipe(child.stdin!);
  return () => inputError;
}

/** A finished filter: missing program, the input's own error, or a non-zero exit with its stderr. */
function checkFilter(
  cmd: CommandLine,
  r: { exitCode?: number | undefined; signal?: string | undefined; stderr?: unknown },
  inputError: unknown,
): void {
  if ('code' in r && r.code === 'ENOENT')
    throw new TvctlError('ENOENT', `${cmd.file}: command not found; install it (see README set-up)`);
  if (inputError) throw inputError;
  if (r.exitCode !== 0) {
    const detail =
      String(r.stderr ?? '')
        .trim()
        .split('\n')
        .pop() ?? '';
    throw new TvctlError(
      'COMMAND_FAILED',
      `${cmd.file} ${cmd.args.join(' ')} failed (exit ${r.exitCode ?? r.signal}): ${detail}`,
    );
  }
}

/**
 * Runs a filter program (e.g. `zstd -dc`) with `input` streamed to its stdin and yields its stdout as it
 * comes. A non-zero exit becomes a TvctlError after the output ends.
 */
export async function* streamThroughCommand(
  cmd: CommandLine,
  input: AsyncIterable<Uint8Array>,
): AsyncGenerator<Buffer> {
  const execa = await loadExeca();
  const child = execa(cmd.file, [...cmd.args], {
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: { stdout: false, stderr: true },
    reject: false,
    shell: false,
  });
  const inputError = feedStdin(child, input);
  let outputError: unknown;
  let finished = false;
  try {
    for await (const chunk of child.stdout!) yield chunk as Buffer;
    finished = true;
  } catch (err) {
    outputError = err;
    finished = true;
  } finally {
    if (!finished) child.kill(); // the consumer stopped early
  }
  checkFilter(cmd, await child, inputError() ?? outputError);
}

/**
 * Runs a filter program (e.g. `zstd -dc`) with `input` streamed to its stdin and its stdout going straight
 * to `outFd` (e.g. a pipe another program reads), so that its output never passes through this process.
 * Resolves when it exits; a non-zero exit becomes a TvctlError carrying its stderr.
 */
export async function pipeCommandInto(
  cmd: CommandLine,
  input: AsyncIterable<Uint8Array>,
  outFd: number,
): Promise<void> {
  const execa = await loadExeca();
  const child = execa(cmd.file, [...cmd.args], {
    stdin: 'pipe',
    // execa hands any descriptor number to spawn(); its types only list 3 to 9
    stdout: outFd as 3,
    stderr: 'pipe',
    reject: false,
    shell: false,
  });
  const inputError = feedStdin(child, input);
  checkFilter(cmd, await child, inputError());
}

// ---------------------------------------------------------------------------------------------------------
// Long-running children: a supervisor, a VMM, a measured run. The caller follows the child while it runs
// (its pid, its pipes, signals), so there is no buffered result. Built on node:child_process rather than
// execa because the pid is needed synchronously (a container start records the shim's pid before anything
// is awaited) and execa can only be loaded asynchronously; what execa would add here is the little below.

/** One entry of the child's descriptor table: ours, none, a new pipe, or a descriptor of ours. */
export type StdioSlot = 'inherit' | 'ignore' | 'pipe' | number;

export interface StartOptions {
  /** fd 0, 1, 2, … of the child */
  stdio: readonly StdioSlot[];
  /** its own session, not killed when we exit: it outlives this process */
  detached?: boolean;
  /** the child's whole environment (default: ours) */
  env?: NodeJS.ProcessEnv;
  /** SIGTERM after this long (then SIGKILL after FORCE_KILL_MS) */
  timeoutMs?: number;
  /** SIGTERM when aborted (then SIGKILL after FORCE_KILL_MS) */
  signal?: AbortSignal;
}

export interface ChildExit {
  /** undefined when it was killed by a signal or never started */
  exitCode: number | undefined;
  signal: NodeJS.Signals | undefined;
  /** the program does not exist */
  notFound: boolean;
  /** stopped by `timeoutMs` */
  timedOut: boolean;
}

export interface StartedCommand {
  /** undefined when the program could not be started (then `exited` says why) */
  readonly pid: number | undefined;
  /** what the child writes to a 'pipe' slot at fd 1, 2, 3, … (undefined for fd 0 and other slots) */
  pipe(fd: number): Readable | undefined;
  /** Resolves once the child has exited and its pipes are closed; never rejects. */
  readonly exited: Promise<ChildExit>;
  /** Resolves when the program is running (never, if it could not start). */
  readonly spawned: Promise<void>;
  kill(signal?: NodeJS.Signals): void;
  /** Lets this process exit while the child still runs. */
  unref(): void;
}

/** How long a child stopped by a timeout or an abort gets for SIGTERM before SIGKILL. */
export const FORCE_KILL_MS = 5000;

/** Starts `cmd` (never through a shell) and returns at once with its pid and pipes. */
export function startCommand(cmd: CommandLine, opts: StartOptions): StartedCommand {
  const child = spawn(cmd.file, [...cmd.args], {
    stdio: [...opts.stdio],
    detached: opts.detached ?? false,
    shell: false,
    ...(opts.env !== undefined ? { env: opts.env } : {}),
  });
  let timedOut = false;
  let notFound = false;
  const timers: NodeJS.Timeout[] = [];
  let terminating = false;
  const terminate = (): void => {
    if (terminating) return; // a timeout and an abort: one SIGTERM, one SIGKILL timer
    terminating = true;
    child.kill('SIGTERM');
    const force = setTimeout(
      () => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'),
      FORCE_KILL_MS,
    );
    force.unref();
    timers.push(force);
  };
  // An attached child does not outlive us (a VMM or a foreground supervisor left running would be an orphan),
  // also when a signal ends us: Node emits no 'exit' for a SIGTERM/SIGHUP/SIGINT without a handler, and
  // signal-exit catches those, runs this, then re-raises the signal so that we still die of it.
  const removeExitHook = opts.detached ? undefined : onExit(() => void child.kill());
  if (opts.timeoutMs !== undefined && opts.timeoutMs > 0) {
    timers.push(
      setTimeout(() => {
        timedOut = true;
        terminate();
      }, opts.timeoutMs),
    );
  }
  const onAbort = (): void => terminate();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.signal?.aborted) terminate();
  child.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') notFound = true;
  });
  const exited = new Promise<ChildExit>((resolve) => {
    child.once('close', (code, signal) => {
      for (const t of timers) clearTimeout(t);
      removeExitHook?.();
      opts.signal?.removeEventListener('abort', onAbort);
      resolve({
        exitCode: typeof code === 'number' && code >= 0 ? code : undefined,
        signal: signal ?? undefined,
        notFound,
        timedOut,
      });
    });
  });
  const spawned = new Promise<void>((resolve) => child.once('spawn', () => resolve()));
  return {
    pid: child.pid,
    pipe: (fd) => {
      const s = fd > 0 ? child.stdio[fd] : undefined;
      return s instanceof Readable ? s : undefined;
    },
    exited,
    spawned,
    kill: (signal) => void child.kill(signal),
    unref: () => child.unref(),
  };
}

/** Everything a stream carries, as text, once it has ended (what it had so far if it fails). */
export function readText(s: Readable | undefined): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    if (!s) return resolve('');
    s.setEncoding('utf8');
    s.on('data', (c: string) => (text += c));
    s.on('error', () => resolve(text));
    s.on('close', () => resolve(text));
  });
}
