/**
 * Resource limits with cgroups: one CgroupManager interface, one implementation per host layout
 * (v1, hybrid, v2) picked once by detection. The cgroup fs root is a parameter so tests run on a temp tree.
 */
import { detectCgroupMode } from './detect.js';
import type { CgroupFs } from './fs.js';
import type { CgroupManager, CgroupMode } from './types.js';
import { CgroupV1Manager } from './v1.js';
import { CgroupV2Manager, type DeviceFilterAttacher } from './v2.js';

export { DEFAULT_PARENT } from './types.js';
export type { CgroupHandle, CgroupLimits, CgroupManager, CgroupMode, CgroupStats } from './types.js';
export { parseLimits, parseBytes, parseCpuList, sharesToWeight, cpusToQuota, type LimitFlags } from './limits.js';
export { detectCgroupMode } from './detect.js';
export { DEFAULT_DEVICE_RULES, formatDeviceRule, type DeviceRule } from './devices.js';
export { CgroupV1Manager } from './v1.js';
export { CgroupV2Manager, attachDeviceFilter, cgdevPath } from './v2.js';
export type { CgroupFs } from './fs.js';

export const DEFAULT_CGROUP_ROOT = '/sys/fs/cgroup';

export function createCgroupManager(
  opts: {
    root?: string;
    mode?: CgroupMode;
    parent?: string;
    fs?: CgroupFs;
    attachDeviceFilter?: DeviceFilterAttacher;
  } = {},
): CgroupManager {
  const root = opts.root ?? DEFAULT_CGROUP_ROOT;
  const mode = opts.mode ?? detectCgroupMode(root);
  if (mode === 'v2') {
    return new CgroupV2Manager({
      root,
      ...(opts.parent ? { parent: opts.parent } : {}),
      ...(opts.fs ? { fs: opts.fs } : {}),
      ...(opts.attachDeviceFilter ? { attachDeviceFilter: opts.attachDeviceFilter } : {}),
    });
  }
  return new CgroupV1Manager({
    root,
    mode,
    ...(opts.parent ? { parent: opts.parent } : {}),
    ...(opts.fs ? { fs: opts.fs } : {}),
    ...(opts.attachDeviceFilter ? { attachDeviceFilter: opts.attachDeviceFilter } : {}),
  });
}
