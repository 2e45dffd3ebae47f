// The KVM addon against QEMU on the same hardware-assisted KVM: `tvctl vm run --engine kvm demo true` vs
// `tvctl vm run --engine qemu demo true` with QEMU on -accel kvm, the same kernel (PVH vmlinux), initramfs and
// command line (checked from both runs' --json, nonce aside). Rounds interleaved, in a new random order each.
//   boot-to-exit  wall time of the whole `vm run` (start → exit), median per engine, and the ratio
//   VMM memory    the VMM process's resident memory beyond the guest's own pages, sampled from
//                 /proc/PID/smaps_rollup and /proc/PID/smaps during the run (peak): for the addon the tvctl
//                 process (Node + addon: it is the VMM), for QEMU the qemu-system-x86_64 process (tvctl's own
//                 Node parent listed apart). The guest's pages are the resident part of the guest-RAM mapping
//                 (the one anonymous mapping of the guest's memory size).
// Needs hardware-assisted KVM (run it inside scripts/kvm-harness.sh --bench here). Usage:
//   node bench/kvm-vs-qemu.mjs [rounds=5]   (BENCH_SAMPLES=1 also prints every sample)
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, TVCTL, median, tvctlRoots } from './lib.mjs';

const rounds = Number(process.argv[2] ?? 5);
const MEMORY_MIB = 256;
const log = (msg) => process.stderr.write(`kvm-vs-qemu bench: ${msg}\n`);

const { probeKvm } = await import(join(REPO, 'dist/lib/vm/probe.js'));
const kvm = probeKvm();
if (kvm.kind !== 'hardware') {
  log(`needs hardware-assisted KVM; here: ${kvm.meaning} (run it through scripts/kvm-harness.sh --bench)`);
  process.exit(2);
}

const roots = tvctlRoots();
const env = roots.env;
try {
  const kernel = [process.env.TVCTL_TEST_KERNEL, process.env.TVCTL_BENCH_KERNEL, '/var/lib/tvctl/kernels/vmlinuz'].find(
    (p) => p && existsSync(p),
  );
  if (kernel) {
    execFileSync('mkdir', ['-p', join(env.TVCTL_DATA, 'kernels')]);
    execFileSync('cp', [kernel, join(env.TVCTL_DATA, 'kernels', 'vmlinuz')]);
  } else {
    const deb = process.env.TVCTL_KERNEL_DEB;
    execFileSync(TVCTL, ['vm', 'kernel', 'install', ...(deb ? ['--from', deb] : [])], { env, stdio: 'inherit' });
  }

  const argv = (engine, json = false) => [
    'vm',
    'run',
    '--engine',
    engine,
    '--memory',
    `${MEMORY_MIB}m`,
    ...(json ? ['--json'] : []),
    'demo',
    'true',
  ];
  // Warm-up: PVH extraction, the QEMU accelerator probe, the initramfs: all cached afterwards.
  log('warm-up (vmlinux extraction, accelerator probe, initramfs)');
  const warm = {};
  for (const engine of ['kvm', 'qemu']) {
    warm[engine] = JSON.parse(execFileSync(TVCTL, argv(engine, true), { env, encoding: 'utf8' }));
    log(`${engine}: ${warm[engine].engine}`);
  }
  if (!/kvm/.test(warm.qemu.engine.replace(/^qemu/, ''))) {
    throw new Error(`QEMU did not pick -accel kvm here (${warm.qemu.engine}): no like-for-like comparison`);
  }
  const noNonce = (c) => c.replace(/ -- \S+$/, '');
  const same = {
    kernel: warm.kvm.bootKernel === warm.qemu.bootKernel,
    initramfs: warm.kvm.initramfs === warm.qemu.initramfs,
    cmdline: noNonce(warm.kvm.cmdline) === noNonce(warm.qemu.cmdline),
  };
  log(`same kernel ${same.kernel}, initramfs ${same.initramfs}, command line (nonce aside) ${same.cmdline}`);
  if (!same.cmdline) log(`  kvm:  ${noNonce(warm.kvm.cmdline)}\n  qemu: ${noNonce(warm.qemu.cmdline)}`);

  const kib = (text, field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  const guestBytes = MEMORY_MIB * 1024;
  /** kB resident in pid, its anonymous part, and the resident kB of its guest-RAM mapping. */
  function memoryOf(pid) {
    try {
      const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
      const smaps = readFileSync(`/proc/${pid}/smaps`, 'utf8');
      let guest = 0;
      // each mapping: a header line, then "Size:", …, "Rss:"; the guest's RAM is one mapping of its size
      // (QEMU may reserve it with an alignment margin: up to 2 MiB more)
      for (const block of smaps.split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/)) {
        const size = kib(block, 'Size');
        if (size >= guestBytes && size <= guestBytes + 4096) guest = Math.max(guest, kib(block, 'Rss'));
      }
      return { rss: kib(rollup, 'Rss'), anon: kib(rollup, 'Anonymous'), guest };
    } catch {
      return undefined; // gone
    }
  }
  const childrenOf = (pid) => {
    const out = [];
    for (const p of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
      try {
        const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
        if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(p));
      } catch {
        // gone meanwhile
      }
    }
    return out;
  };
  const commOf = (pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      return '';
    }
  };

  /** One `vm run`: wall ms, and the peak VMM memory beyond the guest's pages seen while it ran. */
  function runOnce(engine) {
    return new Promise((resolve, reject) => {
      const t0 = process.hrtime.bigint();
      const c = spawn(TVCTL, argv(engine), { env, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      c.stderr.on('data', (b) => (stderr += b));
      // vmm: peak resident beyond the guest's pages while the guest's RAM is mapped (the VMM's overhead);
      // peakRss: the process's peak resident memory at any time (a Node VMM also holds its start-up heap)
      const peak = { vmm: 0, vmmRss: 0, guest: 0, peakRss: 0, parent: 0 };
      const note = (m) => {
        peak.peakRss = Math.max(peak.peakRss, m.rss);
        if (m.guest > 0 && m.rss - m.guest > peak.vmm)
          Object.assign(peak, { vmm: m.rss - m.guest, vmmRss: m.rss, guest: m.guest });
      };
      const sample = () => {
        const tv = memoryOf(c.pid);
        if (!tv) return;
        if (engine === 'kvm') return note(tv);
        peak.parent = Math.max(peak.parent, tv.rss);
        for (const q of childrenOf(c.pid).filter((p) => commOf(p).startsWith('qemu'))) {
          const m = memoryOf(q);
          if (m) note(m);
        }
      };
      const timer = setInterval(sample, 25);
      // a run that hangs ends the bench with that finding, instead of the bench hanging with it
      const limit = setTimeout(() => c.kill('SIGKILL'), 600_000);
      c.on('exit', (code, signal) => {
        clearInterval(timer);
        clearTimeout(limit);
        if (signal === 'SIGKILL')
          return reject(new Error(`vm run --engine ${engine} hung for 600 s: ${stderr.slice(-500)}`));
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        if (code !== 0) reject(new Error(`vm run --engine ${engine} exited ${code}: ${stderr.slice(-500)}`));
        else resolve({ ms, ...peak });
      });
    });
  }

  const samples = { kvm: [], qemu: [] };
  const settle = () => new Promise((r) => setTimeout(r, 300));
  for (let i = 0; i < rounds; i++) {
    log(`round ${i + 1}/${rounds}`);
    const order = Math.random() < 0.5 ? ['kvm', 'qemu'] : ['qemu', 'kvm'];
    for (const e of order) {
      await settle();
      samples[e].push(await runOnce(e));
    }
  }
  if (process.env.BENCH_SAMPLES) console.log(JSON.stringify(samples, null, 1));
  const med = (e, k) => median(samples[e].map((s) => s[k]));
  const mib = (kb) => `${(kb / 1024).toFixed(1)} MiB`;
  const kvmMs = med('kvm', 'ms');
  const qemuMs = med('qemu', 'ms');
  console.log(
    `tvctl vm run demo true, ${rounds} interleaved rounds, medians (${warm.kvm.engine} vs ${warm.qemu.engine}):`,
  );
  console.log(
    `  boot-to-exit   addon ${kvmMs.toFixed(0)} ms   qemu ${qemuMs.toFixed(0)} ms   ratio ${(kvmMs / qemuMs).toFixed(2)}x (goal <= 0.70x)`,
  );
  console.log(
    `  VMM memory beyond guest pages while the guest runs (peak)   addon (tvctl process) ${mib(med('kvm', 'vmm'))}   qemu ${mib(med('qemu', 'vmm'))} (goal <= 10 MiB)`,
  );
  console.log(
    `    at that point: addon ${mib(med('kvm', 'vmmRss'))} resident (guest ${mib(med('kvm', 'guest'))})   qemu ${mib(med('qemu', 'vmmRss'))} (guest ${mib(med('qemu', 'guest'))})`,
  );
  console.log(
    `    peak resident at any time: addon ${mib(med('kvm', 'peakRss'))}   qemu ${mib(med('qemu', 'peakRss'))}, plus its tvctl parent ${mib(med('qemu', 'parent'))}`,
  );
  // For scale: what a Node process that does nothing holds.
  const idle = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 400)']);
  await new Promise((r) => setTimeout(r, 250));
  const idleRss = memoryOf(idle.pid)?.rss ?? NaN;
  await new Promise((r) => idle.on('exit', r));
  console.log(`    an idle node process: ${mib(idleRss)}`);
} finally {
  roots.cleanup();
}
