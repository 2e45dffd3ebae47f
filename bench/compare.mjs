#!/usr/bin/env node
// `tvctl compare` on this machine: the demo image as a container and as VMs (KVM addon where the hypervisor is
// hardware-assisted, QEMU kvm or tcg), printing the terminal table (and writing an HTML report if asked).
// Uses a throwaway tvctl root; the guest kernel is borrowed from $TVCTL_TEST_KERNEL or the default data root
// (install it with `tvctl vm kernel install`).
// Usage (root): node bench/compare.mjs [RUNS=5] [--report FILE.html] [--workload PRESET] [-- CMD...]
// (default CMD: echo hello; with --workload syscall|fork|cpu|memory|file the built-in workload runs instead and
// the report adds its ns/op next to each mode's boot / work / teardown)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import { TVCTL, tvctlRoots } from './lib.mjs';

const argv = process.argv.slice(2);
const dd = argv.indexOf('--');
const head = dd >= 0 ? argv.slice(0, dd) : argv;
const cmd = dd >= 0 ? argv.slice(dd + 1) : ['echo', 'hello'];
const ri = head.indexOf('--report');
const report = ri >= 0 ? head[ri + 1] : undefined;
const wi = head.indexOf('--workload');
const workload = wi >= 0 ? head[wi + 1] : undefined;
const runs = Number(head.find((a, i) => /^\d+$/.test(a) && head[i - 1] !== '--report') ?? 5);

const kernel = [process.env.TVCTL_TEST_KERNEL, '/var/lib/tvctl/kernels/vmlinuz'].find((p) => p && existsSync(p));
const roots = tvctlRoots();
try {
  if (kernel) {
    mkdirSync(join(roots.env.TVCTL_DATA, 'kernels'), { recursive: true });
    symlinkSync(kernel, join(roots.env.TVCTL_DATA, 'kernels', 'vmlinuz'));
    if (existsSync(`${kernel}.version`))
      symlinkSync(`${kernel}.version`, join(roots.env.TVCTL_DATA, 'kernels', 'vmlinuz.version'));
  }
  const args = [
    'compare',
    '--runs',
    String(runs),
    ...(report ? ['--report', report] : []),
    ...(workload ? ['--workload', workload, 'demo'] : ['demo', '--', ...cmd]),
  ];
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  console.log(`machine: ${cpus().length} x ${cpu}, kernel ${release()}, ${new Date().toISOString().slice(0, 10)}`);
  const r = spawnSync(TVCTL, args, { env: roots.env, stdio: ['ignore', 'inherit', 'inherit'] });
  process.exitCode = r.status ?? 1;
} finally {
  roots.cleanup();
}
