#!/usr/bin/env node
// Throughput of 100 sequential run+remove of `demo true` through the typed API (one Node process, no CLI start
// per container) against a loop of `runc run` on the same rootfs, in the same run. Goal: >= 1.0x runc's.
// Usage (root, after npm run build): node bench/api-vs-runc.mjs [N=100]
import { Runtime } from '../dist/lib/index.js';
import { fmt, runcBundle, timeCmd, tvctlRoots } from './lib.mjs';

const n = Number(process.argv[2] ?? 100);
const roots = tvctlRoots();
const bundle = runcBundle(['true']);
const rt = new Runtime({ roots: { state: roots.env.TVCTL_ROOT, data: roots.env.TVCTL_DATA } });
const opts = { image: 'demo', cmd: ['true'], network: 'none', autoRemove: true };
try {
  await rt.run(opts, { detach: false });
  timeCmd('runc', ['run', '-b', bundle.dir, `tvapi-warm-${process.pid}`]);
  let t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const r = await rt.run(opts, { detach: false });
    if (r.exitCode !== 0) throw new Error(`run exited ${r.exitCode}`);
  }
  const api = performance.now() - t0;
  t0 = performance.now();
  for (let i = 0; i < n; i++) timeCmd('runc', ['run', '-b', bundle.dir, `tvapi-${process.pid}-${i}`]);
  const runc = performance.now() - t0;
  console.log(`${n} sequential run+remove of "true"`);
  console.log(`tvctl typed API: ${fmt(api)} total, ${(n / (api / 1000)).toFixed(1)} containers/s`);
  console.log(`runc run loop:   ${fmt(runc)} total, ${(n / (runc / 1000)).toFixed(1)} containers/s`);
  console.log(`throughput ratio (tvctl API / runc): ${(runc / api).toFixed(2)}x`);
} finally {
  roots.cleanup();
  bundle.cleanup();
}
