import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { TvctlError } from '../errors.js';
import type { CgroupMode } from './types.js';

/** The v1 controllers tvctl uses; each is a dir under the root (possibly a symlink to a co-mount). */
export const V1_CONTROLLERS = ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids'] as const;
export type V1Controller = (typeof V1_CONTROLLERS)[number];

/**
 * Detect the layout from files only (so a fake tree in a temp dir works):
 * root/cgroup.controllers → v2 (root is the cgroup2 mount); root/unified/cgroup.controllers plus v1
 * controller dirs → hybrid; v1 controller dirs alone → v1.
 */
export function detectCgroupMode(root = '/sys/fs/cgroup'): CgroupMode {
  if (existsSync(join(root, 'cgroup.controllers'))) return 'v2';
  let entries: string[] = [];
  try {
    entries = readdirSync(root);
  } catch {
    throw new TvctlError('NO_CGROUPS', `cgroup file system not found at ${root}; mount cgroups (v1 or v2) first`);
  }
  const hasV1 = v1ControllersFromEntries(entries).some((c) => (V1_CONTROLLERS as readonly string[]).includes(c));
  if (!hasV1)
    throw new TvctlError('NO_CGROUPS', `no cgroup controllers found under ${root}; mount cgroups (v1 or v2) first`);
  return existsSync(join(root, 'unified', 'cgroup.controllers')) ? 'hybrid' : 'v1';
}

/**
 * The v1 controllers mounted under the cgroup root, from its entries: co-mounts ("cpu,cpuacct") split, named
 * hierarchies and the cgroup2 mount left out; with /proc/cgroups, only the names the kernel lists.
 */
export function v1ControllersFromEntries(entries: readonly string[], procCgroups?: string): string[] {
  const known = new Set<string>();
  for (const line of procCgroups?.split('\n') ?? []) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 4 && !f[0]!.startsWith('#')) known.add(f[0]!);
  }
  const out = new Set<string>();
  for (const c of entries.flatMap((e) => e.split(','))) {
    if (c === 'unified' || c === 'systemd' || c.startsWith('name=')) continue;
    if (known.size === 0 || known.has(c)) out.add(c);
  }
  return [...out].sort();
}
