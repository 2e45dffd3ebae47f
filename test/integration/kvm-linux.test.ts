/**
 * Debian's cloud kernel under the KVM addon. On this PVM host the kernel gets as far as printing its banner,
 * the command line we passed and the e820 map we built (proof of the boot protocol), then stops on an
 * instruction PVM does not emulate. A full boot to an init that prints and powers off runs only where KVM is
 * hardware-assisted; elsewhere that test is skipped with the reason printed.
 *
 * The kernel: $TVCTL_TEST_KERNEL, or installed once into build/test-data (apt-get download, like
 * `tvctl vm kernel install`), never into the real data root.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatE820Line } from '../../src/vm/bzimage.js';
import { kernelPath, installKernel } from '../../src/vm/kernel.js';
import { kvmAddonAvailable, type KvmRunResult } from '../../src/vm/kvm.js';
import { createLinuxVm, type LinuxBootPath } from '../../src/vm/linux-vm.js';
import { probeKvm, vmTimeBudgetMs } from '../../src/vm/probe.js';
import { provided, withReason } from '../helpers/prereq.js';

const REPO = resolve(import.meta.dirname, '../..');
const TEST_DATA = join(REPO, 'build', 'test-data');
const probe = kvmAddonAvailable() ? probeKvm() : undefined;
// The addon is set-up's business (a failure in CI); whether /dev/kvm works is the host's.
const skipReason =
  provided(kvmAddonAvailable() ? undefined : 'the KVM addon is not built') ??
  (probe?.device.accessible ? undefined : `/dev/kvm not usable: ${probe?.meaning}`);

// Inside scripts/kvm-harness.sh (TVCTL_REQUIRE_HARDWARE_KVM=1) what needs hardware-assisted KVM must not skip.
if (process.env['TVCTL_REQUIRE_HARDWARE_KVM'] === '1' && (skipReason !== undefined || probe?.kind !== 'hardware'))
  throw new Error(`TVCTL_REQUIRE_HARDWARE_KVM=1, but KVM here is "${probe?.kind}": ${skipReason ?? probe?.meaning}`);
/** The full boot: ~1 s natively; scaled to this machine (minutes in the harness's emulated L1). */
const FULL_BOOT_BUDGET = vmTimeBudgetMs(20_000);

let kernel: Uint8Array;

async function getKernel(): Promise<Uint8Array> {
  const fromEnv = process.env['TVCTL_TEST_KERNEL'];
  if (fromEnv) return new Uint8Array(readFileSync(fromEnv));
  if (!existsSync(kernelPath(TEST_DATA))) {
    mkdirSync(TEST_DATA, { recursive: true });
    const k = await installKernel(TEST_DATA);
    console.log(`installed test kernel ${k.version} (${k.package}, boot protocol ${k.bootProtocol}) into ${TEST_DATA}`);
  }
  return new Uint8Array(readFileSync(kernelPath(TEST_DATA)));
}

interface Milestones {
  result: KvmRunResult;
  at: Record<string, number>;
}

/** Runs until `until` appears on the console (then cancels), recording when each marker first appeared. */
async function bootUntil(
  boot: LinuxBootPath,
  cmdline: string,
  memoryMiB: number,
  until: RegExp,
  timeoutMs: number,
): Promise<Milestones> {
  const { vm } = createLinuxVm({ kernel, cmdline, memoryMiB, boot });
  try {
    const at: Record<string, number> = {};
    let seen = '';
    const t0 = performance.now();
    const run = vm.start({
      timeoutMs,
      onOutput: (s) => {
        seen += s.replace(/\r/g, '');
        const now = (performance.now() - t0) / 1000;
        for (const [k, re] of [
          ['Linux version', /Linux version/],
          ['Command line', /Command line: .*\n/],
          ['e820', /BIOS-e820:/],
        ] as const) {
          if (at[k] === undefined && re.test(seen)) at[k] = now;
        }
        if (until.test(seen)) run.cancel();
      },
    });
    const result = await run.result;
    // The 8250 console ends lines with \r\n.
    return { result: { ...result, console: result.console.replace(/\r\n/g, '\n') }, at };
  } finally {
    vm.destroy();
  }
}

describe.skipIf(skipReason !== undefined)(withReason('Debian cloud kernel on the KVM addon', skipReason), () => {
  beforeAll(async () => {
    kernel = await getKernel();
  }, 600_000);

  const MEM = 256;
  const cmdline = (tag: string): string => `earlyprintk=ttyS0,115200 console=ttyS0 nokaslr panic=-1 tvctl.test=${tag}`;

  it('bzImage boot protocol: prints Linux version, echoes the exact command line, lists the e820 map we built', async () => {
    const cl = cmdline('bzimage-' + Date.now());
    // Wait for the last range of our map (then stop: the rest is not the boot protocol's business).
    const lastRange = /BIOS-e820: \[mem 0x0000000000100000-0x000000000fffffff\] usable/;
    const { result, at } = await bootUntil('bzimage', cl, MEM, lastRange, 330_000);
    console.log(
      `bzImage path (guest decompresses): Linux version at ${at['Linux version']?.toFixed(1)} s, Command line at ${at['Command line']?.toFixed(1)} s; run ended: ${result.reason}`,
    );
    expect(result.console).toMatch(/Linux version 6\.\d+/);
    expect(result.console).toContain(`Command line: ${cl}\n`);
    const lines = result.console
      .split('\n')
      .filter((l) => l.includes('BIOS-e820:'))
      .map((l) => l.replace(/^.*BIOS-e820:/, 'BIOS-e820:').trim());
    expect(lines).toEqual([
      formatE820Line({ addr: 0, size: 0x9fc00, type: 1 }),
      formatE820Line({ addr: 0x9fc00, size: 0x400, type: 2 }),
      formatE820Line({ addr: 0xf0000, size: 0x10000, type: 2 }),
      formatE820Line({ addr: 0x100000, size: MEM * 1048576 - 0x100000, type: 1 }),
    ]);
    expect(result.reason).toBe('cancelled'); // we stopped it: it did not crash or time out before
  }, 360_000);

  it('PVH fast path (host-side LZ4 decompression, ELF entry): same proof, much sooner', async () => {
    const cl = cmdline('pvh-' + Date.now());
    const lastRange = /BIOS-e820: \[mem 0x0000000000100000-0x000000000fffffff\] usable/;
    const { result, at } = await bootUntil('pvh', cl, MEM, lastRange, 120_000);
    console.log(
      `PVH path: Linux version at ${at['Linux version']?.toFixed(1)} s, Command line at ${at['Command line']?.toFixed(1)} s; run ended: ${result.reason}`,
    );
    expect(result.console).toMatch(/Linux version 6\.\d+/);
    expect(result.console).toContain(`Command line: ${cl}\n`);
    const lines = result.console
      .split('\n')
      .filter((l) => l.includes('BIOS-e820:'))
      .map((l) => l.replace(/^.*BIOS-e820:/, 'BIOS-e820:').trim());
    // Linux's PVH code reserves the ISA hole (0xa0000-0xfffff) itself, which merges with our reserved ranges.
    expect(lines[0]).toBe(formatE820Line({ addr: 0, size: 0x9fc00, type: 1 }));
    expect(lines).toContain(formatE820Line({ addr: 0x100000, size: MEM * 1048576 - 0x100000, type: 1 }));
    expect(result.reason).toBe('cancelled');
  }, 180_000);

  describe('full boot to an init that prints and powers off', () => {
    const hardware = probe?.kind === 'hardware';
    const notHardware = hardware
      ? undefined
      : `KVM here is "${probe?.kind}" (${probe?.meaning?.split(':')[0]}); a full boot needs hardware-assisted KVM (VT-x/AMD-V)`;
    let dir = '';
    afterAll(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });
    it.skipIf(!hardware)(
      withReason('boots to /init, which prints a marker and powers off', notHardware),
      async () => {
        dir = mkdtempSync(join(tmpdir(), 'tvctl-initrd-'));
        const root = join(dir, 'root');
        mkdirSync(join(root, 'bin'), { recursive: true });
        execFileSync('cp', ['/bin/busybox', join(root, 'bin', 'busybox')]);
        writeFileSync(
          join(root, 'init'),
          '#!/bin/busybox sh\n/bin/busybox echo TVCTL-INIT-OK\n/bin/busybox poweroff -f\n',
        );
        chmodSync(join(root, 'init'), 0o755);
        const list = execFileSync('find', ['.', '-print0'], { cwd: root });
        const cpio = execFileSync('cpio', ['--null', '-o', '-H', 'newc', '--quiet'], {
          cwd: root,
          input: list,
          maxBuffer: 64 << 20,
        });
        const { vm } = createLinuxVm({
          kernel,
          initrd: new Uint8Array(cpio),
          cmdline: 'console=ttyS0 panic=-1 reboot=k rdinit=/init',
          memoryMiB: MEM,
        });
        try {
          const r = await vm.run({ timeoutMs: FULL_BOOT_BUDGET });
          expect(r.console).toContain('TVCTL-INIT-OK');
          expect(['hlt', 'reset', 'shutdown']).toContain(r.reason);
          // A "WARNING:" on this console is not a failure: under nested emulation (the harness's L1) every boot
          // logs one about XSAVE sizes, because QEMU's SVM emulation does not intercept XSETBV (QEMU's own
          // -accel kvm there logs the same). A panic or an oops is one.
          expect(r.console).not.toMatch(/Kernel panic|BUG: |Oops: /);
        } finally {
          vm.destroy();
        }
      },
      FULL_BOOT_BUDGET + 60_000,
    );
  });
});
