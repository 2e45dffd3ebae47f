import type { ContainerFacts, ContainerState, ContainerStatus } from './types.js';
import { humanDuration } from '../util/units.js';

const ZERO_TIME = '0001-01-01T00:00:00Z';
/** The exit code reported when the container's own is unknown: 125, tvctl's "failed itself" code. */
export const EXIT_UNKNOWN = 125;

/**
 * Status is derived from live facts, never trusted from disk: an exit file means exited; a live supervisor
 * means running (or restarting between attempts); a supervisor that died without an exit file means the
 * container died with it (its pid namespace is killed with the supervisor), reported as exited 137. An exit
 * file that cannot be read makes the container `dead`: its end is unknown, and it can only be removed.
 */
export function deriveState(f: ContainerFacts): ContainerState {
  const base = {
    pid: 0,
    exitCode: 0,
    oomKilled: false,
    startedAt: f.startedAt ?? ZERO_TIME,
    finishedAt: ZERO_TIME,
    restartCount: f.restarts,
    error: '',
  };
  if (f.exit && !f.shimAlive) {
    return {
      ...base,
      status: 'exited',
      running: false,
      exitCode: f.exit.exitCode,
      oomKilled: f.exit.oomKilled,
      startedAt: f.exit.startedAt,
      finishedAt: f.exit.finishedAt,
      restartCount: Math.max(f.restarts, f.exit.restartCount),
    };
  }
  if (f.exitCorrupt !== undefined && !f.shimAlive) {
    return {
      ...base,
      status: 'dead',
      running: false,
      exitCode: EXIT_UNKNOWN,
      error: `corrupt exit file (${f.exitCorrupt}): the container's exit status is unknown; remove it with "tvctl rm"`,
    };
  }
  if (f.shimAlive) {
    if (f.initPid !== undefined && f.initAlive) return { ...base, status: 'running', running: true, pid: f.initPid };
    if (f.exit)
      return { ...base, status: 'exited', running: false, exitCode: f.exit.exitCode, finishedAt: f.exit.finishedAt };
    return { ...base, status: f.restarts > 0 ? 'restarting' : 'created', running: false };
  }
  if (f.shimPid === undefined) return { ...base, status: 'created', running: false };
  // Supervisor gone without recording an exit: it was killed; the container's pid namespace died with it.
  return {
    ...base,
    status: 'exited',
    running: false,
    exitCode: 137,
    error: 'supervisor was killed; container stopped',
  };
}

export const canStart = (s: ContainerStatus): boolean => s === 'created' || s === 'exited';
export const canKill = (s: ContainerStatus): boolean => s === 'running' || s === 'restarting';
export const canRemove = (s: ContainerStatus, force: boolean): boolean =>
  force || (s !== 'running' && s !== 'restarting');

/** Docker's STATUS column: "Up 5 seconds", "Exited (3) 2 minutes ago", "Created". */
export function describeStatus(state: ContainerState, now = Date.now()): string {
  switch (state.status) {
    case 'running':
      return `Up ${humanDuration(now - Date.parse(state.startedAt))}`;
    case 'restarting':
      return `Restarting (${state.exitCode}) ${humanDuration(now - Date.parse(state.finishedAt))} ago`;
    case 'exited':
      return state.finishedAt === ZERO_TIME
        ? `Exited (${state.exitCode})`
        : `Exited (${state.exitCode}) ${humanDuration(now - Date.parse(state.finishedAt))} ago`;
    case 'created':
      return 'Created';
    case 'dead':
      return 'Dead';
  }
}
