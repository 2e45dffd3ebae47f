import { constants as osConstants } from 'node:os';
import { TvctlError, isErrno } from '../errors.js';
import { writeFile } from '../util/fs-fast.js';
import { shortId } from './ids.js';
import type { Runtime } from './runtime.js';
import { canKill, deriveState } from './status.js';

/** Sends a signal to the container's init (Docker's default for kill: SIGKILL). */
export async function killContainer(rt: Runtime, ref: string, signal: string | number = 'SIGKILL'): Promise<string> {
  const id = await rt.store.resolve(ref);
  const sig = toSignal(signal);
  const state = deriveState(await rt.store.facts(id));
  if (!canKill(state.status) || state.pid === 0) {
    throw new TvctlError('NOT_RUNNING', `cannot kill container ${shortId(id)}: container is not running`);
  }
  const rec = await rt.store.load(id);
  // An explicit kill with the stop signal or SIGKILL is a manual stop: the restart policy must not undo it.
  if (sig === 'SIGKILL' || sig === rec.process.stopSignal) await writeFile(rt.store.paths(id).fact('stopped'), '1');
  signalPid(state.pid, sig);
  return id;
}

/** StopSignal (or SIGTERM), then SIGKILL after `timeoutSec`; resolves once the container has exited. */
export async function stopContainer(rt: Runtime, ref: string, timeoutSec = 10): Promise<string> {
  const id = await rt.store.resolve(ref);
  const rec = await rt.store.load(id);
  const p = rt.store.paths(id);
  const state = deriveState(await rt.store.facts(id));
  if (canKill(state.status)) {
    await writeFile(p.fact('stopped'), '1');
    if (state.pid > 0) signalPid(state.pid, toSignal(rec.process.stopSignal));
    if (!(await waitStopped(rt, id, timeoutSec * 1000))) {
      const again = deriveState(await rt.store.facts(id));
      if (again.pid > 0) signalPid(again.pid, 'SIGKILL');
      await waitStopped(rt, id, 10_000);
    }
  }
  await rt.releaseResources(id);
  return id;
}

/** Blocks until the container stops; returns its exit code (Docker's `wait`). */
export async function waitContainer(rt: Runtime, ref: string): Promise<number> {
  const id = await rt.store.resolve(ref);
  await waitStopped(rt, id, Number.POSITIVE_INFINITY);
  const state = deriveState(await rt.store.facts(id));
  if (state.status === 'dead') throw new TvctlError('CONTAINER_DEAD', `container ${shortId(id)}: ${state.error}`);
  return state.exitCode;
}

/** Polls the facts until the supervisor is gone (the container and its restarts are over). */
export async function waitStopped(rt: Runtime, id: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    const f = await rt.store.facts(id);
    const st = deriveState(f);
    if (!f.shimAlive && !st.running) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, delay));
  }
}

/** A signal name or number as Node's name ("9", "kill", "SIGKILL" → "SIGKILL"). */
export function toSignal(sig: string | number): NodeJS.Signals {
  if (typeof sig === 'number' || /^\d+$/.test(sig)) {
    const n = Number(sig);
    const name = Object.entries(osConstants.signals).find(([, v]) => v === n)?.[0];
    if (!name) throw new TvctlError('INVALID_SIGNAL', `invalid signal: ${sig}`);
    return name as NodeJS.Signals;
  }
  const name = (sig.toUpperCase().startsWith('SIG') ? sig.toUpperCase() : `SIG${sig.toUpperCase()}`) as NodeJS.Signals;
  if (!(name in osConstants.signals)) throw new TvctlError('INVALID_SIGNAL', `invalid signal: ${sig}`);
  return name;
}

/** A process that is already gone has nothing left to signal: not an error. */
export function signalPid(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if (!isErrno(err, 'ESRCH')) throw err;
  }
}
