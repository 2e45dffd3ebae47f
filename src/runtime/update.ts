import { mergeLimitUpdate } from '../cgroups/merge.js';
import type { CgroupLimits } from '../cgroups/types.js';
import { withLock } from '../util/lock.js';
import type { Runtime } from './runtime.js';
import { deriveState } from './status.js';
import type { UpdateResult } from './types.js';

/**
 * Changes a container's resource limits: checked against the ones it has (Docker's rules), recorded for its
 * next start, and written to its cgroups at once when it runs (or is between restarts).
 */
export async function updateContainer(rt: Runtime, ref: string, change: CgroupLimits): Promise<UpdateResult> {
  const id = await rt.store.resolve(ref);
  return withLock(rt.store.paths(id).lock, async () => {
    const rec = await rt.store.load(id);
    const limits = mergeLimitUpdate(rec.hostConfig.limits, change);
    const state = deriveState(await rt.store.facts(id));
    const live = state.running || state.status === 'restarting';
    if (live) await rt.cgroups.update(id, change);
    rec.hostConfig.limits = limits;
    await rt.store.save(rec);
    return { id, limits, applied: live };
  });
}
