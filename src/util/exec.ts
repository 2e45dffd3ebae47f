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
