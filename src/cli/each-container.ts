import type { Command } from '@oclif/core';
import { TvctlError, errorMessage } from '../errors.js';

/**
 * Docker's multi-container verbs: act on each, print each ref that succeeded, report each failure on
 * stderr, and fail (exit 1) if any failed.
 */
export async function eachContainer<T>(cmd: Command, refs: string[], fn: (ref: string) => Promise<T>): Promise<T[]> {
  const done: T[] = [];
  const failures: string[] = [];
  for (const ref of refs) {
    try {
      done.push(await fn(ref));
      if (!cmd.jsonEnabled()) cmd.log(ref);
    } catch (err) {
      if (refs.length === 1) throw err;
      failures.push(errorMessage(err));
      process.stderr.write(`tvctl: ${errorMessage(err)}\n`);
    }
  }
  if (failures.length > 0) throw new TvctlError('PARTIAL_FAILURE', `${failures.length} of ${refs.length} failed`);
  return done;
}
