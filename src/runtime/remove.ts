import { TvctlError, errorMessage } from '../errors.js';
import { writeFile } from '../util/fs-fast.js';
import { withLock } from '../util/lock.js';
import { shortId } from './ids.js';
import type { Runtime } from './runtime.js';
import { canRemove, deriveState } from './status.js';
import { signalPid, waitStopped } from './stop.js';
import type { ContainerInfo, ContainerRecord, PruneResult } from './types.js';

/** Removes a container; a running one needs `force` (then it is killed first). Leaves nothing behind. */
export async function removeContainer(rt: Runtime, ref: string, opts: { force?: boolean } = {}): Promise<string> {
  const id = await rt.store.resolve(ref);
  const p = rt.store.paths(id);
  return withLock(p.lock, async () => {
    const rec = await rt.store.load(id);
    const state = deriveState(await rt.store.facts(id));
    if (!canRemove(state.status, opts.force ?? false)) {
      throw new TvctlError(
        'CONTAINER_RUNNING',
        `cannot remove container ${shortId(id)}: container is ${state.status}: stop the container before attempting removal or force remove`,
      );
    }
    if (state.running || state.status === 'restarting') {
      await writeFile(p.fact('stopped'), '1');
      if (state.pid > 0) signalPid(state.pid, 'SIGKILL');
      await waitStopped(rt, id, 10_000);
    }
    await removeContainerFiles(rt, id, rec.name);
    return id;
  });
}

/**
 * Removes every stopped container (Docker's `container prune`). A removal that fails does not stop the
 * others; each failure is returned with its reason.
 */
export async function pruneContainers(rt: Runtime): Promise<PruneResult> {
  return pruneStopped(await rt.list({ all: true }), (id) => rt.remove(id));
}

/** The policy of prune over a listing, apart from how one container is removed. */
export async function pruneStopped(
  containers: readonly ContainerInfo[],
  remove: (id: string) => Promise<string>,
): Promise<PruneResult> {
  const result: PruneResult = { removed: [], failed: [] };
  for (const c of containers) {
    if (c.state.running || c.state.status === 'restarting') continue;
    try {
      result.removed.push(await remove(c.id));
    } catch (err) {
      // started since the listing: not a stopped container any more, so not prune's to remove
      if (err instanceof TvctlError && err.code === 'CONTAINER_RUNNING') continue;
      result.failed.push({ id: c.id, error: errorMessage(err) });
    }
  }
  return result;
}

/**
 * Releases what a stopped container holds on the host: cgroups, netns, veth, rules, lease. Idempotent.
 * Containers without a managed network (none, host) have nothing on the network side to release.
 */
export async function releaseResources(rt: Runtime, id: string, rec?: ContainerRecord): Promise<void> {
  const record = rec ?? (await rt.store.load(id).catch(() => undefined));
  const managedNet = record === undefined || !['none', 'host'].includes(record.hostConfig.network);
  await Promise.all([rt.cgroups.destroy(id), managedNet ? rt.network.detach(id) : undefined]);
}

/** Everything of a container goes: host resources (unless already released), files, name. */
export async function removeContainerFiles(rt: Runtime, id: string, name: string, released = false): Promise<void> {
  if (!released) await rt.releaseResources(id);
  // The name only once the files are gone: a removal that fails half-way leaves a listed container that
  // still owns its name, so no new container can take it meanwhile.
  await rt.store.removeFiles(id);
  await rt.store.releaseName(name, id);
}
