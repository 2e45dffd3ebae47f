import { TvctlError } from '../errors.js';
import { mergeEnv } from '../util/env.js';
import type { ImageProcessConfig } from '../images/store.js';
import type { ContainerOptions, ProcessConfig } from './types.js';

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
    env: mergeEnv(image.env, opts.env ?? [], { hostname }),
    workingDir: opts.workingDir || image.workingDir || '/',
    user: opts.user ?? image.user ?? '',
    tty: opts.tty ?? false,
    stopSignal: image.stopSignal ?? 'SIGTERM',
  };
}
