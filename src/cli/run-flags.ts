import { Flags } from '@oclif/core';
import { TvctlError } from '../errors.js';
import type { RestartPolicy, VolumeMount } from '../runtime/types.js';

/** Docker's `run`/`create` flags, shared by both commands. */
export const containerFlags = {
  detach: Flags.boolean({ char: 'd', description: 'run in the background and print the container ID' }),
  rm: Flags.boolean({ description: 'remove the container when it exits' }),
  interactive: Flags.boolean({ char: 'i', description: 'keep STDIN open' }),
  tty: Flags.boolean({ char: 't', description: 'allocate a pseudo-TTY' }),
  env: Flags.string({
    char: 'e',
    description: 'set environment variables (KEY=VALUE, or KEY to copy ours)',
    multiple: true,
  }),
  'env-file': Flags.string({ description: 'read environment variables from a file', multiple: true }),
  workdir: Flags.string({ char: 'w', description: 'working directory inside the container' }),
  user: Flags.string({ char: 'u', description: 'username or UID (format: <name|uid>[:<group|gid>])' }),
  hostname: Flags.string({ char: 'h', description: 'container host name' }),
  'read-only': Flags.boolean({ description: "mount the container's root file system as read only" }),
  'cap-add': Flags.string({ description: 'add Linux capabilities (or ALL)', multiple: true }),
  'cap-drop': Flags.string({ description: 'drop Linux capabilities (or ALL)', multiple: true }),
  volume: Flags.string({ char: 'v', description: 'bind mount a volume (HOST:CONTAINER[:ro])', multiple: true }),
  entrypoint: Flags.string({ description: "overwrite the image's default ENTRYPOINT" }),
  name: Flags.string({ description: 'assign a name to the container' }),
  label: Flags.string({ char: 'l', description: 'set metadata on a container (KEY=VALUE)', multiple: true }),
  restart: Flags.string({ description: 'restart policy: no, on-failure[:max-retries], always', default: 'no' }),
  init: Flags.boolean({ description: 'run an init inside the container that forwards signals and reaps processes' }),
  memory: Flags.string({ char: 'm', description: 'memory limit (b, k, m, g)' }),
  'memory-swap': Flags.string({ description: "memory + swap limit; '-1' for unlimited swap" }),
  'memory-reservation': Flags.string({ description: 'memory soft limit' }),
  cpus: Flags.string({ description: 'number of CPUs (fractional: 0.5)' }),
  'cpu-shares': Flags.integer({ char: 'c', description: 'CPU shares (relative weight)' }),
  'cpuset-cpus': Flags.string({ description: 'CPUs in which to allow execution (0-3, 0,1)' }),
  'pids-limit': Flags.integer({ description: "tune the container's pids limit (-1 for unlimited)" }),
  network: Flags.string({
    description: 'connect the container to a network: none, host, bridge or NAME',
    aliases: ['net'],
  }),
  publish: Flags.string({
    char: 'p',
    description: "publish a container's port to the host ([IP:]HOST:CTR[/tcp|udp])",
    multiple: true,
  }),
  'publish-all': Flags.boolean({ char: 'P', description: 'publish all exposed ports to random ports' }),
  'add-host': Flags.string({ description: 'add a custom host-to-IP mapping (host:ip)', multiple: true }),
  dns: Flags.string({ description: 'set custom DNS servers', multiple: true }),
};

/** `-v HOST:CONTAINER[:ro|rw]` (absolute host paths only; named volumes are not supported). */
export function parseVolume(spec: string): VolumeMount {
  const parts = spec.split(':');
  if (parts.length < 2 || parts.length > 3 || !parts[0] || !parts[1]) {
    throw new TvctlError('INVALID_VOLUME', `invalid volume specification "${spec}": expected HOST:CONTAINER[:ro]`);
  }
  const mode = parts[2] ?? 'rw';
  if (mode !== 'ro' && mode !== 'rw')
    throw new TvctlError('INVALID_VOLUME', `invalid volume mode "${mode}" in "${spec}": use ro or rw`);
  return { source: parts[0], destination: parts[1], readonly: mode === 'ro' };
}

/** `--restart no|always|unless-stopped|on-failure[:N]` */
export function parseRestart(spec: string): RestartPolicy {
  const [name, count] = spec.split(':');
  if (name === 'no' && count === undefined) return { name: 'no' };
  if ((name === 'always' || name === 'unless-stopped') && count === undefined) return { name: 'always' };
  if (name === 'on-failure') {
    const n = count === undefined ? 0 : Number(count);
    if (!Number.isInteger(n) || n < 0)
      throw new TvctlError(
        'INVALID_RESTART',
        `invalid restart policy "${spec}": max-retries must be a non-negative integer`,
      );
    return { name: 'on-failure', maximumRetryCount: n };
  }
  throw new TvctlError(
    'INVALID_RESTART',
    `invalid restart policy "${spec}": use no, always or on-failure[:max-retries]`,
  );
}

export function parseLabels(entries: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of entries) {
    const eq = e.indexOf('=');
    if (eq === 0) throw new TvctlError('INVALID_LABEL', `invalid label "${e}": empty key`);
    if (eq < 0) out[e] = '';
    else out[e.slice(0, eq)] = e.slice(eq + 1);
  }
  return out;
}
