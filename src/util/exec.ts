import { execa, type Options as ExecaOptions } from 'execa';
import { TvctlError } from '../errors.js';

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
  opts: { allowFailure?: boolean; input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CommandResult> {
  const options: ExecaOptions = {
    reject: false,
    stripFinalNewline: true,
    shell: false,
    ...(opts.input !== undefined ? { input: opts.input } : {}),
    ...(opts.env !== undefined ? { env: opts.env } : {}),
    ...(opts.timeoutMs !== undefined ? { timeout: opts.timeoutMs } : {}),
  };
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
    throw new TvctlError('COMMAND_FAILED', `${cmd.file} ${cmd.args.join(' ')} failed (exit ${result.exitCode}): ${detail}`);
  }
  return result;
}
