#!/usr/bin/env node
// `tvctl run --rm demo true` against `runc run` of the same rootfs, interleaved in one run; prints medians and
// the ratio (issue goal: <= 4x runc). Also Node's own start (`node -e 0`), which is the floor for any Node CLI.
// Usage (root): node bench/run-vs-runc.mjs [RUNS=30]
import { median, fmt, runcBundle, timeCmd, tvctlRoots, TVCTL } from './lib.mjs';

const runs = Number(process.argv[2] ?? 30);
const roots = tvctlRoots();
const bundle = runcBundle(['true']);
const t = { node: [], runc: [], tvNone: [], tvBridge: [] };
try {
  for (let i = 0; i < 3; i++) {
    timeCmd(TVCTL, ['run', '--rm', '--network', 'none', 'demo', 'true'], { env: roots.env });
    timeCmd('runc', ['run', '-b', bundle.dir, `tvbench-warm-${process.pid}-${i}`]);
  }
  for (let i = 0; i < runs; i++) {
    t.node.push(timeCmd(process.execPath, ['-e', '0']));
    t.runc.push(timeCmd('runc', ['run', '-b', bundle.dir, `tvbench-${process.pid}-${i}`]));
    // runc's default spec has a new network namespace with only lo: --network none is the like-for-like run.
    t.tvNone.push(timeCmd(TVCTL, ['run', '--rm', '--network', 'none', 'demo', 'true'], { env: roots.env }));
    t.tvBridge.push(timeCmd(TVCTL, ['run', '--rm', 'demo', 'true'], { env: roots.env }));
  }
} finally {
  roots.cleanup();
  bundle.cleanup();
}
const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)]));
console.log(`runs: ${runs} each, interleaved; medians`);
console.log(`node -e 0                              ${fmt(m.node)}`);
console.log(`runc run (true)                        ${fmt(m.runc)}`);
console.log(`tvctl run --rm --network none demo true ${fmt(m.tvNone)}   ratio ${(m.tvNone / m.runc).toFixed(2)}x runc`);
console.log(
  `tvctl run --rm demo true (bridge)       ${fmt(m.tvBridge)}   ratio ${(m.tvBridge / m.runc).toFixed(2)}x runc`,
);
