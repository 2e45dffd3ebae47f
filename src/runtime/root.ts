import { TvctlError } from '../errors.js';

/** Namespaces, mounts and cgroups need root: say so up front instead of failing half-way. */
export function requireRoot(): void {
  if (process.getuid && process.getuid() !== 0) {
    throw new TvctlError('NOT_ROOT', 'tvctl needs root to create namespaces, mounts and cgroups; run it with sudo');
  }
}
