import { Args, Flags } from '@oclif/core';

/**
 * The arguments and flags many commands share, defined once so that each reads (and each usage error names it)
 * the same way everywhere.
 */

/** CONTAINER (one or more where the command is not strict): an ID, a unique ID prefix or a name. */
export const containerArg = Args.string({ required: true, description: 'container ID, prefix or name' });

/** IMAGE of run, create and compare: a reference, an ID or a unique ID prefix. */
export const imageArg = Args.string({ description: 'image name, ID or ID prefix' });

/** NETWORK: a name or a unique ID prefix. */
export const networkArg = Args.string({ required: true, description: 'network name or ID prefix' });

/** `-t`/`--time` of stop and restart: Docker's grace period before SIGKILL. */
export const stopTimeFlag = Flags.integer({
  char: 't',
  description: 'seconds to wait before killing the container',
  default: 10,
});

/**
 * The flags of Docker's listings (`ps`, `images`, `network ls`): -q for IDs only, --no-trunc for full IDs,
 * -f/--filter KEY=VALUE (repeatable) and --format (a Go template, `table …` or `json`).
 */
export function listingFlags(noun: 'container' | 'image' | 'network', filterHelp: string, formatExample: string) {
  return {
    quiet: Flags.boolean({ char: 'q', description: `only display ${noun} IDs` }),
    filter: Flags.string({ char: 'f', description: `filter output: ${filterHelp}`, multiple: true }),
    'no-trunc': Flags.boolean({ description: "don't truncate output" }),
    format: Flags.string({
      description: `Go template per ${noun} ('table ${formatExample}' for a table), or 'json'`,
    }),
  };
}
