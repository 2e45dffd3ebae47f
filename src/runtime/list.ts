import { TvctlError } from '../errors.js';
import type { Runtime } from './runtime.js';
import { describeStatus } from './status.js';
import type { ContainerInfo, PortBinding } from './types.js';

/** One container as `tvctl ps --json` reports it. */
export interface PsEntry {
  id: string;
  image: string;
  command: string;
  created: string;
  status: string;
  state: string;
  exitCode: number;
  ports: string;
  name: string;
  labels: Record<string, string>;
}

export interface ContainerFilter {
  key: 'status' | 'name' | 'label' | 'id';
  value: string;
}

/** `--filter KEY=VALUE` (Docker's status=, name=, label=KEY[=VALUE], id=). */
export function parseFilter(spec: string): ContainerFilter {
  const eq = spec.indexOf('=');
  const key = spec.slice(0, eq);
  if (eq <= 0 || !['status', 'name', 'label', 'id'].includes(key)) {
    throw new TvctlError('BAD_USAGE', `invalid filter "${spec}": use status=, name=, label= or id=`);
  }
  return { key: key as ContainerFilter['key'], value: spec.slice(eq + 1) };
}

export function matchesFilter(c: ContainerInfo, f: ContainerFilter): boolean {
  switch (f.key) {
    case 'status':
      return c.state.status === f.value;
    case 'name':
      return c.name.includes(f.value);
    case 'id':
      return c.id.startsWith(f.value);
    case 'label': {
      const eq = f.value.indexOf('=');
      if (eq < 0) return f.value in c.config.labels;
      return c.config.labels[f.value.slice(0, eq)] === f.value.slice(eq + 1);
    }
  }
}

/**
 * The containers `ps` shows, newest first: the running ones, or all with `all` — and all whenever a status
 * filter is given (asking for status=exited implies looking at stopped ones). Every filter must match.
 */
export async function listContainers(
  rt: Runtime,
  opts: { all: boolean; filters: readonly ContainerFilter[] },
): Promise<ContainerInfo[]> {
  const all = opts.all || opts.filters.some((f) => f.key === 'status');
  return (await rt.list({ all })).filter((c) => opts.filters.every((f) => matchesFilter(c, f)));
}

/** The PORTS column: while it runs, the ports actually bound (a requested host port 0 is chosen at start). */
export function portsColumn(c: ContainerInfo): string {
  const live = c.state.running ? (c.network as { ports?: PortBinding[] } | undefined)?.ports : undefined;
  return (live ?? c.hostConfig.portBindings)
    .map((p) => `${p.hostIp || '0.0.0.0'}:${p.hostPort}->${p.containerPort}/${p.protocol}`)
    .join(', ');
}

export function toPsEntry(c: ContainerInfo, now = Date.now()): PsEntry {
  return {
    id: c.id,
    image: c.image,
    command: c.process.args.join(' '),
    created: c.created,
    status: describeStatus(c.state, now),
    state: c.state.status,
    exitCode: c.state.exitCode,
    ports: portsColumn(c),
    name: c.name,
    labels: c.config.labels,
  };
}
