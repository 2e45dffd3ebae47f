/**
 * Runs the start path's host-independent parts once while `node --build-snapshot` builds dist/tvctl.blob.
 * V8 keeps the bytecode of every function that has run in the snapshot, so a container start does not
 * compile the flag parser, execa's spawn machinery or the conf encoders lazily on its way (measured: about
 * 5 ms of a ~105 ms `tvctl run --rm`). Nothing here reads host state that could differ at run time (no
 * cgroup detection, no store, no roots): only parsing, pure builders, and spawns of /bin/true through the
 * same launch code as the supervisor and QEMU. Every handle is closed before the snapshot is taken.
 */
import { existsSync } from 'node:fs';
import type { Config } from '@oclif/core';
import Run from '../commands/run.js';
import VmRun from '../commands/vm/run.js';
import { initConf, shimConf } from '../namespaces/conf.js';
import { launchShim } from '../namespaces/launch.js';
import { buildContainerRecord, containerInitSpec, containerShimSpec } from '../runtime/container-conf.js';
import { streamThroughCommand } from '../util/exec.js';
import { guestCmdline, tcgKernelParams } from '../vm/engine.js';
import { encodeGuestConfig } from '../vm/guest-protocol.js';
import { runQemu } from '../vm/qemu.js';

const WARM_IMAGE = { env: ['PATH=/bin'], cmd: ['sh'], exposedPorts: [] };

export async function warmUp(config: Config): Promise<void> {
  const run = new Run(
    ['--rm', '--network', 'none', '-e', 'A=B', '-v', '/tmp:/mnt:ro', '--name', 'warm', 'demo', 'sh', '-c', 'true'],
    config,
  );
  const { opts } = await run.parseRun();
  // The start path's own conf assembly, on placeholder paths: the same pure functions `tvctl run` calls.
  const rec = buildContainerRecord({
    id: '0'.repeat(64),
    name: 'warm',
    hostname: 'warm',
    created: new Date(0).toISOString(),
    opts,
    image: { id: 'sha256:' + '0'.repeat(64), layerDirs: ['/nonexistent/l0', '/nonexistent/l1'], config: WARM_IMAGE },
  });
  const etc = {
    hosts: '/nonexistent/hosts',
    hostname: '/nonexistent/hostname',
    resolvConf: '/nonexistent/resolv.conf',
  };
  const init = initConf(
    containerInitSpec(
      rec,
      { rootfs: '/nonexistent/rootfs', upper: '/nonexistent/upper', work: '/nonexistent/work' },
      { netnsPath: undefined, etc },
    ),
  );
  const shim = shimConf(
    containerShimSpec(
      rec,
      { initConf: '/nonexistent/init.conf', stateDir: '/nonexistent', log: '/nonexistent/log' },
      { attach: true, netnsPath: undefined, cgroupProcs: ['/nonexistent/cgroup.procs'], oomFiles: [], onExit: [] },
    ),
  );
  if (init.length === 0 || shim.length === 0) throw new Error('warm-up: empty conf');
  // The launch path: /bin/true stands in for tvinit, exits 0 without a `pid` line, so `ready` rejects.
  if (existsSync('/bin/true')) {
    const launched = launchShim({ tvinit: '/bin/true', shimConfPath: '/dev/null', stdio: 'ignore', detached: false });
    await launched.exited;
    await launched.ready.catch(() => undefined);
  }
  await warmVmRun(config);
  // image load: the extractor is driven through streamThroughCommand (cat stands in for it)
  if (existsSync('/bin/cat')) {
    const input = (async function* () {
      yield Buffer.from('warm\n');
    })();
    let echoed = '';
    for await (const c of streamThroughCommand({ file: '/bin/cat', args: [] }, input)) echoed += c.toString('utf8');
    if (echoed !== 'warm\n') throw new Error(`warm-up: cat echoed ${JSON.stringify(echoed)}`);
  }
}

/** `vm run`: parsing, the guest config and command line, and the QEMU run loop (/bin/true as QEMU). */
async function warmVmRun(config: Config): Promise<void> {
  const vm = new VmRun(['--engine', 'qemu', '-e', 'A=B', '-w', '/tmp', 'demo', 'sh', '-c', 'true'], config);
  const { split } = await vm.parseVmRun();
  const cfg = encodeGuestConfig({
    nonce: '0123456789abcdef',
    hostname: 'warm',
    cwd: '/',
    env: ['A=B'],
    argv: split.cmd,
  });
  const cmdline = guestCmdline(
    cfg,
    false,
    tcgKernelParams('tcg', 'flags\t\t: fpu tsc constant_tsc\ncpu MHz\t\t: 2600.000\n'),
  );
  if (!existsSync('/bin/true')) return;
  await runQemu(
    {
      binary: '/bin/true',
      accel: 'tcg',
      kernel: '/nonexistent',
      initrd: '/nonexistent',
      cmdline,
      memoryMiB: 64,
      cpus: 1,
    },
    '0123456789abcdef',
    { onStdout: () => undefined, onStderr: () => undefined },
  );
}
