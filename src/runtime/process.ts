import { TvctlError } from '../errors.js';
import type { ImageProcessConfig } from '../images/store.js';
import type { ContainerOptions, ProcessConfig } from './types.js';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Docker's rules for the container's process: `--entrypoint` replaces the image's Entrypoint and drops its
 * Cmd; CMD ARG... replaces the image's Cmd; `-e` entries override image Env by key; PATH and HOSTNAME are
 * provided when absent; `-w`/`-u` override WorkingDir/User.
 */
export function buildProcessConfig(image: ImageProcessConfig, opts: ContainerOptions, hostname: string): ProcessConfig {
  const entrypoint = opts.entrypoint ?? image.entrypoint ?? [];
  const cmd = opts.cmd && opts.cmd.length > 0 ? opts.cmd : opts.entrypoint !== undefined ? [] : (image.cmd ?? []);
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) {
    throw new TvctlError(
      'NO_COMMAND',
      'no command specified: the image has no Entrypoint or Cmd; give one after the image name',
    );
  }
  return {
    args,
    env: mergeEnv(image.env, opts.env ?? [], hostname),
    workingDir: opts.workingDir || image.workingDir || '/',
    user: opts.user ?? image.user ?? '',
    tty: opts.tty ?? false,
    stopSignal: image.stopSignal ?? 'SIGTERM',
  };
}

export function mergeEnv(imageEnv: readonly string[], overrides: readonly string[], hostname: string): string[] {
  const env = new Map<string, string>();
  const put = (kv: string): void => {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new TvctlError('INVALID_ENV', `invalid environment variable "${kv}": expected KEY=VALUE`);
    env.set(kv.slice(0, eq), kv);
  };
  env.set('PATH', `PATH=${DEFAULT_PATH}`);
  env.set('HOSTNAME', `HOSTNAME=${hostname}`);
  imageEnv.forEach(put);
  overrides.forEach(put);
  return [...env.values()];
}

/**
 * `-e KEY` (no '=') takes KEY from tvctl's own environment, dropped when unset, as Docker does.
 * `--env-file` lines: KEY=VALUE or KEY; blank lines and # comments ignored.
 */
export function resolveEnvArgs(entries: readonly string[], hostEnv: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  for (const e of entries) {
    if (e.includes('=')) out.push(e);
    else if (e && hostEnv[e] !== undefined) out.push(`${e}=${hostEnv[e]}`);
  }
  return out;
}

export function parseEnvFile(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.replace(/\r$/, ''))
    .filter((l) => l.trim() !== '' && !l.trimStart().startsWith('#'));
}
