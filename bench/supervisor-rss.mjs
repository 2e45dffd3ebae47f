#!/usr/bin/env node
// Host memory a detached container costs outside its own processes: the RSS of its supervisor chain (tvinit
// shim, plus tvinit init as PID 1 when it stays resident) with N idle containers (default 50). Root only.
// Usage: node bench/supervisor-rss.mjs [N=50]
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { median, tvctlRoots, TVCTL } from './lib.mjs';

const n = Number(process.argv[2] ?? 50);
const roots = tvctlRoots();
const statusKb = (pid, key) =>
  Number(
    /(\d+) kB/.exec(
      readFileSync(`/proc/${pid}/status`, 'utf8')
        .split('\n')
        .find((l) => l.startsWith(key)) ?? '0 kB',
    )[1],
  );
const children = (pid) =>
  readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
try {
  const ids = [];
  for (let i = 0; i < n; i++) {
    ids.push(
      execFileSync(TVCTL, ['run', '-d', '--network', 'none', 'demo', 'sleep', '3600'], { env: roots.env })
        .toString()
        .trim(),
    );
  }
  const shim = [];
  const pss = [];
  for (const id of ids) {
    const sp = Number(readFileSync(join(roots.env.TVCTL_ROOT, 'containers', id, 'shim.pid'), 'utf8'));
    // The chain outside the container: the shim and its child (tvinit, parent of the container's PID 1,
    // living in the host's pid namespace and reaping for it).
    const chain = [sp, ...children(sp)];
    shim.push(chain.reduce((a, p) => a + statusKb(p, 'VmRSS:'), 0));
    // Proportional set size counts shared pages (the static binary's text) once across all containers.
    pss.push(
      chain.reduce((a, p) => a + Number(/Pss:\s+(\d+)/.exec(readFileSync(`/proc/${p}/smaps_rollup`, 'utf8'))[1]), 0),
    );
  }
  const total = shim.reduce((a, b) => a + b, 0);
  console.log(`${n} idle containers (sleep 3600), supervisor = tvinit shim + its tvinit child per container`);
  console.log(
    `supervisor RSS per container: median ${median(shim)} KiB, max ${Math.max(...shim)} KiB; PSS median ${median(pss)} KiB`,
  );
  console.log(`all ${n} supervisors together: ${(total / 1024).toFixed(1)} MiB RSS (goal <= 2 MiB each)`);
  console.log(
    `no Node.js process per container: ${execFileSync('sh', ['-c', `ps -eo comm | grep -c '^node$' || true`]).toString().trim()} node processes on the host now (this script included)`,
  );
  execFileSync(TVCTL, ['rm', '-f', ...ids], { env: roots.env, stdio: 'ignore' });
} finally {
  roots.cleanup();
}
