import { Command, Flags, type Interfaces } from '@oclif/core';
import { TvctlError, errorMessage, exitCodeOf, type ErrorCode } from '../errors.js';
import { defaultRoots, type Roots } from '../paths.js';
import { flagShapes, parserArgv, splitRunArgv } from './split-argv.js';

/**
 * The base of every tvctl command: owns --json, --root/--data, error mapping and exit codes.
 * Subclasses implement `run()` returning a typed result that *is* the JSON output.
 */
export abstract class TvctlCommand<T> extends Command {
  static override enableJsonFlag = true;

  static override baseFlags = {
    root: Flags.string({ description: 'state root (default /run/tvctl, or $TVCTL_ROOT)', helpGroup: 'GLOBAL' }),
    data: Flags.string({ description: 'data root (default /var/lib/tvctl, or $TVCTL_DATA)', helpGroup: 'GLOBAL' }),
  };

  protected roots(flags: { root?: string | undefined; data?: string | undefined }): Roots {
    const d = defaultRoots();
    return { state: flags.root ?? d.state, data: flags.data ?? d.data };
  }

  /**
   * Docker's command line, `VERB [OPTIONS] TARGET [COMMAND] [ARG...]` (run, create, exec, vm run): options end
   * at the first positional, and everything after it belongs to the container's command, flags included.
   */
  protected async parseCommandLine<
    F extends Record<string, unknown>,
    B extends Record<string, unknown>,
    A extends Record<string, unknown>,
  >(
    ctor: Interfaces.Input<F, B, A> & Required<Pick<Interfaces.Input<F, B, A>, 'flags' | 'baseFlags'>>,
  ): Promise<{ flags: Interfaces.ParserOutput<F, B, A>['flags']; target: string | undefined; cmd: string[] }> {
    const split = splitRunArgv(
      this.argv,
      flagShapes({ ...ctor.flags, ...ctor.baseFlags, json: { type: 'boolean' } } as Parameters<typeof flagShapes>[0]),
    );
    const { flags } = await this.parse(ctor, parserArgv(split));
    return { flags, target: split.image, cmd: split.cmd };
  }

  abstract override run(): Promise<T>;

  protected override async catch(err: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<unknown> {
    // oclif's own exits (this.exit, --help) pass through untouched.
    if (err.oclif?.exit !== undefined && !(err instanceof TvctlError)) {
      if (err.name === 'ExitError' || err.message.startsWith('EEXIT')) throw err;
    }
    const tag = err instanceof TvctlError ? err.code : parseErrorCode(err);
    const code = exitCodeOf(tag);
    reportError(tag, errorMessage(err), this.jsonEnabled());
    process.exitCode = code;
    return this.exit(code);
  }
}

/**
 * How every tvctl error reaches the user: with --json, `{"error":{"code","message"}}` on stdout (the message
 * whole); else one `tvctl: ` line on stderr.
 */
export function reportError(code: string, message: string, json: boolean): void {
  if (json) process.stdout.write(JSON.stringify({ error: { code, message } }) + '\n');
  else process.stderr.write(`tvctl: ${oneLine(message)}\n`);
}

/** `--json` among the options (before a `--`), for an error raised before oclif has parsed them. */
export function jsonRequested(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json');
}

function parseErrorCode(err: Error): ErrorCode {
  if (/^(Missing \d+ required arg|Unexpected arguments?:)/.test(err.message)) return 'BAD_ARGS';
  return err.constructor?.name === 'CLIError' || /flag|argument/i.test(err.message) ? 'BAD_USAGE' : 'INTERNAL';
}

function oneLine(msg: string): string {
  const lines = msg
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  // oclif parse errors span several lines ("Nonexistent flag: --x\nSee more help with --help"; "Missing 1
  // required arg:\ncontainer  container ID, prefix or name\n…"): keep the gist, an argument with its description.
  return lines
    .filter((l) => !l.startsWith('See more help'))
    .map((l) => l.replace(/^(\S+) {2,}(\S.*)$/, '$1 ($2)'))
    .reduce((acc, l) => (acc === '' ? l : acc.endsWith(':') ? `${acc} ${l}` : `${acc}; ${l}`), '');
}
