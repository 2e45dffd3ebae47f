import { Config, flush, handle, run } from '@oclif/core';
import { exitCodeOf } from '../errors.js';
import { jsonRequested, reportError } from './base-command.js';

/** CLI entry (bundled to dist/main.mjs by scripts/bundle.mjs). */
export async function main(argv: string[]): Promise<void> {
  let config: Config | undefined;
  try {
    config = await Config.load(import.meta.url);
    await run(argv, config);
    await flush();
  } catch (err) {
    const topics = config;
    const unknown = topics && unknownCommand(err, (t) => topics.findTopic(t) !== undefined);
    if (unknown === undefined) return handle(err as Error);
    const json = jsonRequested(argv);
    if (unknown.startsWith('-')) {
      reportError('BAD_USAGE', `unknown flag: ${unknown}; see 'tvctl --help'`, json);
      process.exitCode = exitCodeOf('BAD_USAGE');
    } else {
      reportError('UNKNOWN_COMMAND', `'${unknown}' is not a tvctl command; see 'tvctl --help'`, json);
      process.exitCode = exitCodeOf('UNKNOWN_COMMAND');
    }
  }
}

/**
 * The words of a command oclif has not found, from its error (the one thing that carries them: "command
 * image:frob:x not found" from the dispatcher, which joins every leading word; "Command frob not found." from
 * `frob --help`): the topics the user named and the first word that is not one. Undefined for other errors.
 */
export function unknownCommand(err: unknown, isTopic: (id: string) => boolean): string | undefined {
  const m = /^command (\S+) not found\.?$/i.exec(err instanceof Error ? err.message : '');
  if (!m) return undefined;
  const words = m[1]!.split(':');
  // `tvctl help frob` asks for help on `frob`.
  if (words[0] === 'help' && words.length > 1) words.shift();
  let n = 1;
  while (n < words.length && isTopic(words.slice(0, n).join(':'))) n++;
  return words.slice(0, n).join(' ');
}
