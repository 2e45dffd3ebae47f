import { shortId } from '../runtime/ids.js';
import { commandColumn } from '../runtime/inspect.js';
import { portsColumn } from '../runtime/list.js';
import { describeStatus } from '../runtime/status.js';
import { humanAgo } from '../util/units.js';
import type { ContainerInfo } from '../runtime/types.js';
import { goTime } from './go-template.js';

/** `tvctl ps`'s default table, as Docker's. */
export const PS_TABLE_HEADERS = ['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES'];

export function psTableRow(c: ContainerInfo, noTrunc: boolean, now = Date.now()): string[] {
  return [
    noTrunc ? c.id : shortId(c.id),
    c.image,
    commandText(c, noTrunc),
    humanAgo(c.created, now),
    describeStatus(c.state, now),
    portsColumn(c),
    c.name,
  ];
}

/** Column names of `--format 'table …'`, as Docker's. */
export const PS_FORMAT_HEADERS: Record<string, string> = {
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
export function psFormatFields(
  c: ContainerInfo,
  noTrunc: boolean,
  now = Date.now(),
): Record<string, string | ((key: string) => string)> {
  return {
    ID: noTrunc ? c.id : shortId(c.id),
    Image: c.image,
    Command: commandText(c, noTrunc),
    CreatedAt: goTime(c.created),
    RunningFor: humanAgo(c.created, now),
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

function commandText(c: ContainerInfo, noTrunc: boolean): string {
  return noTrunc ? `"${c.process.args.join(' ')}"` : commandColumn(c.process.args);
}
