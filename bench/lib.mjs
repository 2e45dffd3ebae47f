// Shared helpers for the benchmarks: timing, medians, a throwaway tvctl root with the demo image, a runc bundle.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const REPO = resolve(import.meta.dirname, '..');
export const TVCTL = join(REPO, 'bin', 'tvctl');
export const DEMO_TAR = join(REPO, 'build', 'demo-rootfs.tar');

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

/** Wall time of one synchronous command in ms; throws if it fails. */
export function timeCmd(file, args, opts = {}) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(file, args, { stdio: ['ignore', 'ignore', 'pipe'], ...opts });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${file} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return ms;
}

export function tvctlRoots() {
  const base = mkdtempSync(join(tmpdir(), 'tvctl-bench-'));
  const env = { ...process.env, TVCTL_ROOT: join(base, 'state'), TVCTL_DATA: join(base, 'data') };
  execFileSync('bash', [join(REPO, 'scripts/make-demo-rootfs.sh'), DEMO_TAR]);
  execFileSync(TVCTL, ['image', 'import', DEMO_TAR, 'demo'], { env, stdio: 'ignore' });
  return {
    env,
    base,
    cleanup() {
      spawnSync(TVCTL, ['prune'], { env, stdio: 'ignore' });
      rmSync(base, { recursive: true, force: true });
    },
  };
}

/** An OCI bundle for runc with the same rootfs, running `args` (runc's default spec: new netns with lo only). */
export function runcBundle(args) {
  const dir = mkdtempSync(join(tmpdir(), 'tvctl-bench-runc-'));
  execFileSync('mkdir', ['-p', join(dir, 'rootfs')]);
  execFileSync('tar', ['-xf', DEMO_TAR, '-C', join(dir, 'rootfs')]);
  execFileSync('runc', ['spec', '-b', dir]);
  const spec = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  spec.process.terminal = false;
  spec.process.args = args;
  spec.root.readonly = false;
  writeFileSync(join(dir, 'config.json'), JSON.stringify(spec));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function fmt(ms) {
  return `${ms.toFixed(1)} ms`;
}
