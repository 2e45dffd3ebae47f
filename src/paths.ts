import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Roots are parameters with defaults so tests can run on temp dirs. */
export interface Roots {
  /** Runtime state: one dir per container (pid, exit status, lock). Default /run/tvctl. */
  state: string;
  /** Persistent data: image store, writable layers, kernels. Default /var/lib/tvctl. */
  data: string;
}

export function defaultRoots(env: NodeJS.ProcessEnv = process.env): Roots {
  return {
    state: env['TVCTL_ROOT'] || '/run/tvctl',
    data: env['TVCTL_DATA'] || '/var/lib/tvctl',
  };
}

let explicitRoot: string | undefined;

/** Set by the snapshot entry, where import.meta.url does not point into the package. */
export function setPackageRoot(root: string): void {
  explicitRoot = root;
}

/** The repository (or installed package) root: where native/ build outputs live. */
export function packageRoot(): string {
  if (explicitRoot !== undefined) return explicitRoot;
  // Works from src/*.ts (vitest), dist/lib/*.js (tsc) and dist/tvctl.mjs (bundle): walk up to package.json.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (dirname(dir) === dir) break;
    if (/(^|\/)(src|dist|lib)$/.test(dir)) dir = dirname(dir);
    else break;
  }
  return dir;
}

export function nativeBuildDir(): string {
  return join(packageRoot(), 'native', 'out');
}
