import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { provided } from './prereq.js';

export const REPO = resolve(import.meta.dirname, '../..');
/** What users run (package.json "bin"): the launcher that starts hot verbs from the startup snapshot. */
export const TVCTL = join(REPO, 'bin', 'tvctl');
/** The plain oclif entry, for the few tests that compare the two paths. */
export const TVCTL_OCLIF = join(REPO, 'bin', 'tvctl.js');
export const DEMO_TAR = join(REPO, 'build', 'demo-rootfs.tar');

export const isRoot = process.getuid?.() === 0;
/** Why a root-only suite skips (it says so in its name); in CI not being root is a failure (prereq.ts). */
export const notRoot = provided(isRoot ? undefined : 'needs root');

/** What a container's /dev holds: Docker's set, plus the devpts `ptmx`. */
export const CONTAINER_DEV_ENTRIES: readonly string[] = [
  'fd',
  'full',
  'mqueue',
  'null',
  'ptmx',
  'pts',
  'random',
  'shm',
  'stderr',
  'stdin',
  'stdout',
  'tty',
  'urandom',
  'zero',
];

/** A private pair of state/data roots, so tests never touch a user's containers. */
export interface TestRoots {
  state: string;
  data: string;
  env: NodeJS.ProcessEnv;
  cleanup(): Promise<void>;
}

export async function makeRoots(): Promise<TestRoots> {
  const base = await mkdtemp(join(tmpdir(), 'tvctl-it-'));
  const state = join(base, 'state');
  const data = join(base, 'data');
  const env = { ...process.env, TVCTL_ROOT: state, TVCTL_DATA: data };
  return {
    state,
    data,
    env,
    async cleanup() {
      // Remove every container first (kills, releases cgroups/network), then the dirs.
      await execa(TVCTL, ['prune'], { env, reject: false });
      const ids = await execa(TVCTL, ['ps', '-aq', '--no-trunc'], { env, reject: false });
      for (const id of String(ids.stdout).split('\n').filter(Boolean))
        await execa(TVCTL, ['rm', '-f', id], { env, reject: false });
      await rm(base, { recursive: true, force: true });
    },
  };
}

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export async function tvctl(
  roots: TestRoots,
  args: string[],
  opts: { input?: string; timeout?: number } = {},
): Promise<CliResult> {
  const r = await execa(TVCTL, args, {
    env: roots.env,
    reject: false,
    ...(opts.input !== undefined ? { input: opts.input } : { stdin: 'ignore' as const }),
    timeout: opts.timeout ?? 60_000,
  });
  return { exitCode: r.exitCode ?? 128, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}

export async function importDemo(roots: TestRoots, name = 'demo'): Promise<void> {
  if (!existsSync(DEMO_TAR)) await execa('bash', [join(REPO, 'scripts/make-demo-rootfs.sh'), DEMO_TAR]);
  const r = await tvctl(roots, ['image', 'import', DEMO_TAR, name]);
  if (r.exitCode !== 0) throw new Error(`image import failed: ${r.stderr}`);
}

/**
 * For a describe block: fresh roots holding the demo image before its tests, removed after them. The roots
 * are handed to `set` (the block keeps them in its own variable).
 */
export function useDemoRoots(set: (roots: TestRoots) => void): void {
  let mine: TestRoots | undefined;
  beforeAll(async () => {
    mine = await makeRoots();
    await importDemo(mine);
    set(mine);
  });
  afterAll(async () => {
    await mine?.cleanup();
  });
}

/** Host-side leftovers that mention a container id: mounts, cgroup dirs, links, netns. */
export async function hostTraces(id: string): Promise<string[]> {
  const key = id.slice(0, 12);
  const out: string[] = [];
  const { readFile, readdir } = await import('node:fs/promises');
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  out.push(
    ...mountinfo
      .split('\n')
      .filter((l) => l.includes(key) || l.includes(id))
      .map((l) => `mount: ${l}`),
  );
  for (const ctrl of await readdir('/sys/fs/cgroup').catch(() => [] as string[])) {
    const dir = join('/sys/fs/cgroup', ctrl, 'tvctl');
    for (const e of await readdir(dir).catch(() => [] as string[]))
      if (e.includes(key)) out.push(`cgroup: ${dir}/${e}`);
  }
  for (const e of await readdir('/sys/fs/cgroup/tvctl').catch(() => [] as string[]))
    if (e.includes(key)) out.push(`cgroup: /sys/fs/cgroup/tvctl/${e}`);
  const links = await execa('ip', ['-o', 'link'], { reject: false });
  out.push(
    ...String(links.stdout)
      .split('\n')
      .filter((l) => l.includes(key))
      .map((l) => `link: ${l}`),
  );
  const ns = await readdir('/run/netns').catch(() => [] as string[]);
  out.push(...ns.filter((n) => n.includes(key)).map((n) => `netns: ${n}`));
  return out;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls until `fn` returns a value (not undefined), or fails the test after `timeoutMs`. */
export async function waitFor<T>(fn: () => Promise<T | undefined>, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** `tvctl inspect REF` parsed (Docker's shape); throws when the container is unknown. */
export async function inspectContainer(roots: TestRoots, ref: string): Promise<any> {
  const r = await tvctl(roots, ['inspect', ref]);
  if (r.exitCode !== 0) throw new Error(`inspect ${ref} failed: ${r.stderr}`);
  return JSON.parse(r.stdout)[0];
}
