import { existsSync } from 'node:fs';
import { TvctlError, errorMessage } from '../errors.js';
import { capabilityMask } from '../namespaces/caps.js';
import { mkdir } from '../util/fs-fast.js';
import { trace } from '../util/trace.js';
import { buildContainerRecord } from './container-conf.js';
import { newId, randomName, shortId } from './ids.js';
import { requireRoot } from './root.js';
import type { Runtime } from './runtime.js';
import { deriveState } from './status.js';
import type { ContainerInfo, ContainerOptions, VolumeMount } from './types.js';

/** Creates a container (record, writable layer) without starting it; validates everything first. */
export async function createContainer(rt: Runtime, opts: ContainerOptions): Promise<ContainerInfo> {
  requireRoot();
  capabilityMask(opts.capAdd ?? [], opts.capDrop ?? []); // a bad name fails before the image is looked up
  trace('create: begin');
  const image = await rt.images.resolve(opts.image);
  trace('create: image resolved');
  const id = newId();
  const rec = buildContainerRecord({
    id,
    name: opts.name ?? (await freeName(rt)),
    hostname: opts.hostname || shortId(id),
    created: new Date().toISOString(),
    opts,
    image,
  });
  await rt.store.reserveName(rec.name, id);
  const p = rt.store.paths(id);
  try {
    await mkdir(p.rootfs, { recursive: true, mode: 0o700 });
    await mkdir(p.upper, { recursive: true, mode: 0o755 });
    await mkdir(p.work, { recursive: true, mode: 0o700 });
    await ensureVolumeSources(rec.mounts);
    await rt.store.save(rec);
    trace('create: state written');
  } catch (err) {
    await rt.store.removeFiles(id);
    await rt.store.releaseName(rec.name, id);
    throw err;
  }
  return { ...rec, state: deriveState({ shimAlive: false, initAlive: false, restarts: 0 }) };
}

/**
 * A missing bind-mount source is created as a directory (Docker's -v rule). One that exists (a file, too) is
 * used as it is; one that cannot be made fails the create with the reason, instead of a mount error later.
 */
export async function ensureVolumeSources(volumes: readonly VolumeMount[]): Promise<void> {
  for (const v of volumes) {
    try {
      await mkdir(v.source, { recursive: true });
    } catch (err) {
      if (existsSync(v.source)) continue;
      throw new TvctlError('INVALID_VOLUME', `cannot create volume source "${v.source}": ${errorMessage(err)}`);
    }
  }
}

async function freeName(rt: Runtime): Promise<string> {
  for (;;) {
    const n = randomName();
    const taken = await rt.store.resolve(n).then(
      () => true,
      () => false,
    );
    if (!taken) return n;
  }
}
