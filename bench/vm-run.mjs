// `tvctl vm run demo true` against plain QEMU in the same run:
//   qemu-same   the exact QEMU command tvctl spawns (same PVH vmlinux, initramfs, command line, UARTs), run until
//               QEMU exits by itself after the guest powers off
//   qemu-marker the same, but stopped (SIGKILL) as soon as the guest's exit marker arrives, as tvctl does:
//               tvctl's own overhead, like for like
//   qemu-plain  a conventional microvm boot of the same bzImage + initramfs (guest decompresses itself, no boot tuning)
//   tvctl run   the same image and command in a container (shared kernel), if `tvctl run` works here
//   bochs       `tvctl vm run --engine bochs demo true`: the interpreted rung (same kernel, initramfs and
//               command line, booted from an isolinux CD), if Bochs is usable here; BENCH_BOCHS=0 leaves it out
// Rounds are interleaved so host load hits every variant alike. Usage: node bench/vm-run.mjs [rounds=7]
// (BENCH_SAMPLES=1 also prints every sample.)
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, TVCTL, median, tvctlRoots } from './lib.mjs';

const rounds = Number(process.argv[2] ?? 7);
const log = (msg) => process.stderr.write(`vm-run bench: ${msg}\n`);
const { buildQemuArgv } = await import(join(REPO, 'dist/lib/vm/qemu.js'));
const { guestCmdline, tcgKernelParams } = await import(join(REPO, 'dist/lib/vm/engine.js'));

const roots = tvctlRoots();
const env = roots.env;
const kernelSrc = process.env.TVCTL_BENCH_KERNEL ?? '/var/lib/tvctl/kernels/vmlinuz';
if (existsSync(kernelSrc)) {
  execFileSync('mkdir', ['-p', join(env.TVCTL_DATA, 'kernels')]);
  execFileSync('cp', [kernelSrc, join(env.TVCTL_DATA, 'kernels', 'vmlinuz')]);
} else {
  execFileSync(TVCTL, ['vm', 'kernel', 'install'], { env, stdio: 'inherit' });
}

function wall(fn) {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

// Warm-up: kernel extraction, accelerator probe, initramfs — all cached afterwards. Its JSON tells us what tvctl runs.
log('warm-up (vmlinux extraction, accelerator probe, initramfs)');
const warm = JSON.parse(execFileSync(TVCTL, ['vm', 'run', '--json', 'demo', 'true'], { env, encoding: 'utf8' }));
const accel = warm.engine.includes('kvm') ? 'kvm' : 'tcg';
const qemu = spawnSync('sh', ['-c', 'command -v qemu-system-x86_64'], { encoding: 'utf8' }).stdout.trim();
const same = buildQemuArgv({
  binary: qemu,
  accel,
  kernel: warm.bootKernel,
  initrd: warm.initramfs,
  cmdline: warm.cmdline,
  memoryMiB: 256,
  cpus: 1,
  consoleFd: 3,
  stdoutFd: 4,
  stderrFd: 5,
});
const configWord = warm.cmdline.split(' -- ')[1];
const plainCmdline = guestCmdline(configWord, false).replace(' cryptomgr.notests', '');
const plain = buildQemuArgv({
  binary: qemu,
  accel,
  kernel: warm.kernel,
  initrd: warm.initramfs,
  cmdline: plainCmdline,
  memoryMiB: 256,
  cpus: 1,
  consoleFd: 3,
  stdoutFd: 4,
  stderrFd: 5,
});
void tcgKernelParams;

/** Runs QEMU with the three UART fds as socketpairs (as tvctl does) and waits for it to exit. */
function runQemu(argv, stopAtMarker = false) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const c = spawn(qemu, argv, { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe', 'pipe'] });
    let con = '';
    let stopped = false;
    c.stdio[3].on('data', (b) => {
      con += b;
      if (stopAtMarker && !stopped && /:exit -?\d+ \d+@@/.test(con)) {
        stopped = true;
        c.kill('SIGKILL');
      }
    });
    for (const i of [2, 4, 5]) c.stdio[i].resume();
    // An untuned TCG guest can hang in TSC calibration on a busy host: drop such a sample, say so, go on.
    const limit = setTimeout(() => {
      log('a QEMU run hung for 60 s (guest stuck early in boot); sample dropped');
      c.kill('SIGKILL');
    }, 60_000);
    c.on('exit', (_code, signal) => {
      clearTimeout(limit);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (signal === 'SIGKILL' && !stopped) resolve(NaN);
      else if (!/:exit 0 /.test(con)) reject(new Error(`qemu run did not report exit 0: ${con.slice(-300)}`));
      else resolve(ms);
    });
  });
}

log('checking tvctl run');
const haveRun =
  spawnSync(TVCTL, ['run', '--rm', '--network', 'none', 'demo', 'true'], { env, stdio: 'ignore', timeout: 60_000 })
    .status === 0;
const { findBochs } = await import(join(REPO, 'dist/lib/vm/bochs.js'));
const bochs = process.env.BENCH_BOCHS !== '0' && findBochs().usable;
if (bochs) {
  log('warm-up: bochs (boot CD)');
  execFileSync(TVCTL, ['vm', 'run', '--engine', 'bochs', 'demo', 'true'], { env, stdio: 'ignore' });
}
const t = { vm: [], same: [], marker: [], plain: [], run: [], bochs: [] };
// Samples are taken in a new random order each round, each after a pause: on this 2-core VM a sample is
// measurably slower right after some others (the kernel tearing down the previous run in the background,
// guest memory being freed and compacted), and a fixed order would charge that to one variant every time.
const settle = () => new Promise((r) => setTimeout(r, 300));
const variants = {
  vm: async () => wall(() => execFileSync(TVCTL, ['vm', 'run', 'demo', 'true'], { env, stdio: 'ignore' })),
  same: () => runQemu(same),
  marker: () => runQemu(same, true),
  plain: () => runQemu(plain),
  ...(bochs
    ? {
        bochs: async () =>
          wall(() => execFileSync(TVCTL, ['vm', 'run', '--engine', 'bochs', 'demo', 'true'], { env, stdio: 'ignore' })),
      }
    : {}),
  ...(haveRun
    ? {
        run: async () =>
          wall(() =>
            execFileSync(TVCTL, ['run', '--rm', '--network', 'none', 'demo', 'true'], { env, stdio: 'ignore' }),
          ),
      }
    : {}),
};
for (let i = 0; i < rounds; i++) {
  log(`round ${i + 1}/${rounds}`);
  const order = Object.keys(variants)
    .map((k) => [Math.random(), k])
    .sort((a, b) => a[0] - b[0])
    .map(([, k]) => k);
  for (const k of order) {
    await settle();
    t[k].push(await variants[k]());
  }
}
const m = Object.fromEntries(
  Object.entries(t).map(([k, v]) => [
    k,
    v.filter((x) => !Number.isNaN(x)).length ? median(v.filter((x) => !Number.isNaN(x))) : NaN,
  ]),
);
const f = (x) => `${x.toFixed(0)} ms`;
if (process.env.BENCH_SAMPLES)
  for (const [k, v] of Object.entries(t)) console.log(k, v.map((x) => Math.round(x)).join(' '));
console.log(`engine: ${warm.engine} — ${warm.engineWhy}`);
console.log(`rounds: ${rounds} (medians)`);
console.log(`tvctl vm run demo true              ${f(m.vm)}`);
console.log(
  `qemu, the same command tvctl runs    ${f(m.same)}   tvctl/qemu = ${(m.vm / m.same).toFixed(2)}x (goal <= 1.1x)`,
);
console.log(
  `qemu, same, stopped at exit marker  ${f(m.marker)}   tvctl/qemu = ${(m.vm / m.marker).toFixed(2)}x (tvctl's own overhead)`,
);
console.log(`qemu, plain microvm bzImage boot     ${f(m.plain)}   tvctl/plain = ${(m.vm / m.plain).toFixed(2)}x`);
if (haveRun)
  console.log(`tvctl run --rm demo true (container) ${f(m.run)}   vm/container = ${(m.vm / m.run).toFixed(1)}x`);
else console.log('tvctl run: not working here, skipped');
if (bochs)
  console.log(
    `tvctl vm run --engine bochs demo true ${f(m.bochs)}   bochs/${warm.engine} = ${(m.bochs / m.vm).toFixed(1)}x (goal: <= 25 s)`,
  );
else console.log('bochs: not usable here (or BENCH_BOCHS=0), skipped');
console.log(`host load average: ${spawnSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).stdout.trim()}`);
roots.cleanup();
