/**
 * tvctl's typed API: `import { Runtime } from 'tvctl'`. The same operations as the CLI, without paying a
 * process start per call — for hosting providers scripting many tenants.
 */
export {
  Runtime,
  type RuntimeOptions,
  type StartOptions,
  type StartResult,
  type ExecOptions,
} from './runtime/runtime.js';
export type {
  ContainerInfo,
  ContainerOptions,
  ContainerRecord,
  ContainerState,
  ContainerStatus,
  PortBinding,
  RestartPolicy,
  VolumeMount,
} from './runtime/types.js';
export { toDockerInspect } from './runtime/inspect.js';
export { ImageStore, type ImageRecord, type ResolvedImage } from './images/store.js';
export { parseLimits } from './cgroups/limits.js';
export type { CgroupLimits } from './cgroups/types.js';
export { TvctlError } from './errors.js';
export { defaultRoots, type Roots } from './paths.js';
