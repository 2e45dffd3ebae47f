import { TvctlError } from '../errors.js';

/** Docker's default PATH, for a process whose image sets none. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const DEFAULT_PATH_ENV = `PATH=${DEFAULT_PATH}`;

/**
 * Docker's environment for a container's (or a VM guest's) process, one rule set for both: PATH (and HOSTNAME
 * when there is one) first as defaults, then the image's Env, then the `-e` entries, each later entry replacing
 * an earlier one with the same key. Every entry must be KEY=VALUE: a bare `-e KEY` is resolved against the
 * caller's environment by `resolveEnvArgs` before it gets here.
 */
export function mergeEnv(
  imageEnv: readonly string[],
  overrides: readonly string[],
  opts: { hostname?: string } = {},
): string[] {
  const env = new Map<string, string>();
  const put = (kv: string): void => {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new TvctlError('INVALID_ENV', `invalid environment variable "${kv}": expected KEY=VALUE`);
    env.set(kv.slice(0, eq), kv);
  };
  env.set('PATH', DEFAULT_PATH_ENV);
  if (opts.hostname !== undefined) env.set('HOSTNAME', `HOSTNAME=${opts.hostname}`);
  imageEnv.forEach(put);
  overrides.forEach(put);
  return [...env.values()];
}

/**
 * `-e KEY` (no '=') takes KEY from tvctl's own environment, dropped when unset, as Docker does; `-e KEY=V` is
 * kept as it is.
 */
export function resolveEnvArgs(entries: readonly string[], hostEnv: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  for (const e of entries) {
    if (e.includes('=')) out.push(e);
    else if (e && hostEnv[e] !== undefined) out.push(`${e}=${hostEnv[e]}`);
  }
  return out;
}

/** `--env-file` lines: KEY=VALUE or KEY; blank lines and # comments ignored. */
export function parseEnvFile(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.replace(/\r$/, ''))
    .filter((l) => l.trim() !== '' && !l.trimStart().startsWith('#'));
}
