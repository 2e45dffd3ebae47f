import { Flags } from '@oclif/core';
import { TvctlCommand } from '../cli/base-command.js';
import { goTime, renderFormat } from '../cli/go-template.js';
import { formatTable } from '../cli/table.js';
import { TvctlError } from '../errors.js';
import { shortId } from '../runtime/ids.js';
import { commandColumn } from '../runtime/inspect.js';
import { Runtime } from '../runtime/runtime.js';
import { describeStatus, humanDuration } from '../runtime/status.js';
import type { ContainerInfo } from '../runtime/types.js';

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

export default class Ps extends TvctlCommand<PsEntry[]> {
  static override description = 'list containers';
  static override aliases = ['container ls'];
  static override flags = {
    all: Flags.boolean({ char: 'a', description: 'show all containers (default shows just running)' }),
    quiet: Flags.boolean({ char: 'q', description: 'only display container IDs' }),
    filter: Flags.string({
      char: 'f',
      description: 'filter output: status=, name=, label=KEY[=VALUE], id=',
      multiple: true,
    }),
    'no-trunc': Flags.boolean({ description: "don't truncate output" }),
    format: Flags.string({
      description: "Go template per container ('table {{.ID}}\\t{{.Names}}' for a table), or 'json'",
    }),
  };

  async run(): Promise<PsEntry[]> {
    const { flags } = await this.parse(Ps);
    const filters = (flags.filter ?? []).map(parseFilter);
    const all = flags.all || filters.some((f) => f.key === 'status');
    const runtime = new Runtime({ roots: this.roots(flags) });
    const containers = (await runtime.list({ all })).filter((c) => filters.every((f) => matches(c, f)));
    const entries = containers.map(toEntry);
    if (!this.jsonEnabled()) {
      if (flags.quiet) {
        for (const e of entries) this.log(flags['no-trunc'] ? e.id : shortId(e.id));
      } else if (flags.format !== undefined) {
        const rows = containers.map((c) => formatFields(c, flags['no-trunc'] ?? false));
        const out = renderFormat(flags.format, rows, PS_HEADERS);
        if (out) this.log(out);
      } else {
        const now = Date.now();
        this.log(
          formatTable(
            ['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES'],
            containers.map((c) => [
              flags['no-trunc'] ? c.id : shortId(c.id),
              c.image,
              flags['no-trunc'] ? `"${c.process.args.join(' ')}"` : commandColumn(c.process.args),
              `${humanDuration(now - Date.parse(c.created))} ago`,
              describeStatus(c.state, now),
              portsColumn(c),
              c.name,
            ]),
          ),
        );
      }
    }
    return entries;
  }
}

function portsColumn(c: ContainerInfo): string {
  // While it runs, the network attachment holds the ports actually bound (a requested host port 0 is chosen).
  const live = c.state.running
    ? (c.network as { ports?: ContainerInfo['hostConfig']['portBindings'] } | undefined)?.ports
    : undefined;
  return (live ?? c.hostConfig.portBindings)
    .map((p) => `${p.hostIp || '0.0.0.0'}:${p.hostPort}->${p.containerPort}/${p.protocol}`)
    .join(', ');
}

/** Column names of `--format 'table …'`, as Docker's. */
const PS_HEADERS: Record<string, string> = {
  ID: 'CONTAINER ID',
  Image: 'IMAGE',
  Command: 'COMMAND',
  CreatedAt: 'CREATED AT',
  RunningFor: 'CREATED',
  Ports: 'PORTS',
  State: 'STATE',
  Status: 'STATUS',
  Names: 'NAMES',
  Labels: 'LABELS',
  Label: 'LABEL',
  Mounts: 'MOUNTS',
  Networks: 'NETWORKS',
};

/** The fields Docker's `ps --format` offers, as its strings. */
function formatFields(c: ContainerInfo, noTrunc: boolean): Record<string, string | ((key: string) => string)> {
  const now = Date.now();
  return {
    ID: noTrunc ? c.id : shortId(c.id),
    Image: c.image,
    Command: noTrunc ? `"${c.process.args.join(' ')}"` : commandColumn(c.process.args),
    CreatedAt: goTime(c.created),
    RunningFor: `${humanDuration(now - Date.parse(c.created))} ago`,
    Ports: portsColumn(c),
    State: c.state.status,
    Status: describeStatus(c.state, now),
    Names: c.name,
    Labels: Object.entries(c.config.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(','),
    Label: (key: string) => c.config.labels[key] ?? '',
    Mounts: '',
    Networks: '',
  };
}

function toEntry(c: ContainerInfo): PsEntry {
  return {
    id: c.id,
    image: c.image,
    command: c.process.args.join(' '),
    created: c.created,
    status: describeStatus(c.state),
    state: c.state.status,
    exitCode: c.state.exitCode,
    ports: portsColumn(c),
    name: c.name,
    labels: c.config.labels,
  };
}

interface Filter {
  key: 'status' | 'name' | 'label' | 'id';
  value: string;
}

export function parseFilter(spec: string): Filter {
  const eq = spec.indexOf('=');
  const key = spec.slice(0, eq);
  if (eq <= 0 || !['status', 'name', 'label', 'id'].includes(key)) {
    throw new TvctlError('BAD_USAGE', `invalid filter "${spec}": use status=, name=, label= or id=`, 1);
  }
  return { key: key as Filter['key'], value: spec.slice(eq + 1) };
}

function matches(c: ContainerInfo, f: Filter): boolean {
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
