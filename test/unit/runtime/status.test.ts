import { describe, expect, it } from 'vitest';
import { canKill, canRemove, canStart, deriveState, describeStatus } from '../../../src/runtime/status.js';

const exit = {
  exitCode: 3,
  signal: null,
  oomKilled: false,
  startedAt: '2026-01-01T00:00:00Z',
  finishedAt: '2026-01-01T00:00:05Z',
  restartCount: 0,
};

describe('deriveState', () => {
  it('is created before any supervisor ran', () => {
    expect(deriveState({ shimAlive: false, initAlive: false, restarts: 0 }).status).toBe('created');
  });
  it('is running while the supervisor and the init live', () => {
    const s = deriveState({ shimPid: 10, shimAlive: true, initPid: 11, initAlive: true, restarts: 0, startedAt: 't' });
    expect([s.status, s.running, s.pid]).toEqual(['running', true, 11]);
  });
  it('is exited with the recorded code once the exit file is there', () => {
    const s = deriveState({ shimPid: 10, shimAlive: false, initAlive: false, restarts: 0, exit });
    expect([s.status, s.exitCode, s.finishedAt]).toEqual(['exited', 3, exit.finishedAt]);
  });
  it('is exited 137 when the supervisor was killed without recording an exit', () => {
    const s = deriveState({ shimPid: 10, shimAlive: false, initPid: 11, initAlive: false, restarts: 0 });
    expect([s.status, s.exitCode]).toEqual(['exited', 137]);
    expect(s.error).toMatch(/supervisor/);
  });
  it('is restarting between attempts of a restart policy', () => {
    expect(deriveState({ shimPid: 10, shimAlive: true, initAlive: false, restarts: 2 }).status).toBe('restarting');
  });
});

describe('a corrupt exit file', () => {
  it('makes the container dead (startable no more, removable) once its supervisor is gone', () => {
    const s = deriveState({ shimPid: 10, shimAlive: false, initAlive: false, restarts: 0, exitCorrupt: 'not JSON' });
    expect([s.status, s.running, s.exitCode]).toEqual(['dead', false, 125]);
    expect(s.error).toMatch(/^corrupt exit file \(not JSON\)/);
    expect([canStart(s.status), canKill(s.status), canRemove(s.status, false)]).toEqual([false, false, true]);
    expect(describeStatus(s)).toBe('Dead');
  });
  it('does not matter while the supervisor lives: a live supervisor is the fact that counts', () => {
    const s = deriveState({
      shimPid: 10,
      shimAlive: true,
      initPid: 11,
      initAlive: true,
      restarts: 1,
      exitCorrupt: 'x',
    });
    expect([s.status, s.pid]).toEqual(['running', 11]);
  });
});

describe('guards and wording', () => {
  it('guards lifecycle operations', () => {
    expect([canStart('created'), canStart('running'), canKill('running'), canKill('exited')]).toEqual([
      true,
      false,
      true,
      false,
    ]);
    expect([canRemove('running', false), canRemove('running', true), canRemove('exited', false)]).toEqual([
      false,
      true,
      true,
    ]);
  });
  it('words durations and statuses as Docker does', () => {
    const now = Date.parse(exit.finishedAt) + 120_000;
    expect(
      describeStatus(deriveState({ shimPid: 1, shimAlive: false, initAlive: false, restarts: 0, exit }), now),
    ).toBe('Exited (3) 2 minutes ago');
  });
});
