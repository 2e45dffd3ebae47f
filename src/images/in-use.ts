import type { Roots } from '../paths.js';
import type { InUseCheck } from './store.js';

/** The runtime's answer to "does any container (running or not) use this image?", loaded only when needed. */
export function containersUsingImage(roots: Roots): InUseCheck {
  let ids: Promise<Set<string>> | undefined;
  return async (imageId: string) => {
    ids ??= import('../runtime/store.js').then(
      async ({ ContainerStore }) => new Set((await new ContainerStore(roots).list()).map((c) => c.imageId)),
    );
    return (await ids).has(imageId);
  };
}
