import { readFile } from 'node:fs/promises';
import { limitFlagsFromCli, parseLimits, type LimitCliFlags } from '../cgroups/limits.js';
import { TvctlError } from '../errors.js';
import { parsePublish } from '../network/publish.js';
import { parseEnvFile, resolveEnvArgs } from '../util/env.js';
import type { ContainerOptions } from '../runtime/types.js';
import { parseLabels, parseRestart, parseVolume } from './run-flags.js';

export interface ContainerFlagValues extends LimitCliFlags {
  rm: boolean;
  interactive: boolean;
  tty: boolean;
  env?: string[] | undefined;
  'env-file'?: string[] | undefined;
  workdir?: string | undefined;
  user?: string | undefined;
  hostname?: string | undefined;
  'read-only': boolean;
  'cap-add'?: string[] | undefined;
  'cap-drop'?: string[] | undefined;
  volume?: string[] | undefined;
  entrypoint?: string | undefined;
  name?: string | undefined;
  label?: string[] | undefined;
  restart: string;
  init: boolean;
  network?: string | undefined;
  publish?: string[] | undefined;
  'publish-all': boolean;
  'add-host'?: string[] | undefined;
  dns?: string[] | undefined;
  detach: boolean;
}

/** Turns parsed `run`/`create` flags into the typed API's options, validating everything before any work. */
export async function containerOptionsFromFlags(
  flags: ContainerFlagValues,
  image: string,
  cmd: string[],
): Promise<ContainerOptions> {
  const envFileEntries: string[] = [];
  for (const f of flags['env-file'] ?? []) {
    const text = await readFile(f, 'utf8').catch(() => {
      throw new TvctlError('BAD_ENV_FILE', `open ${f}: no such file or directory`);
    });
    envFileEntries.push(...parseEnvFile(text));
  }
  const env = resolveEnvArgs([...envFileEntries, ...(flags.env ?? [])], process.env);
  const restart = parseRestart(flags.restart);
  if (flags.rm && restart.name !== 'no') {
    throw new TvctlError('BAD_USAGE', 'conflicting options: cannot specify both --restart and --rm');
  }
  const limitFlags = limitFlagsFromCli(flags);
  const opts: ContainerOptions = {
    image,
    env,
    tty: flags.tty,
    interactive: flags.interactive,
    readonlyRootfs: flags['read-only'],
    capAdd: flags['cap-add'] ?? [],
    capDrop: flags['cap-drop'] ?? [],
    volumes: (flags.volume ?? []).map(parseVolume),
    labels: parseLabels(flags.label ?? []),
    init: flags.init,
    autoRemove: flags.rm,
    restart,
    limits: parseLimits(limitFlags),
    publish: (flags.publish ?? []).map(parsePublish),
    publishAll: flags['publish-all'],
    addHosts: flags['add-host'] ?? [],
    dns: flags.dns ?? [],
  };
  if (cmd.length > 0) opts.cmd = cmd;
  if (flags.entrypoint !== undefined) opts.entrypoint = flags.entrypoint === '' ? [] : [flags.entrypoint];
  if (flags.workdir !== undefined) opts.workingDir = flags.workdir;
  if (flags.user !== undefined) opts.user = flags.user;
  if (flags.hostname !== undefined) opts.hostname = flags.hostname;
  if (flags.name !== undefined) opts.name = flags.name;
  if (flags.network !== undefined) opts.network = flags.network;
  return opts;
}
