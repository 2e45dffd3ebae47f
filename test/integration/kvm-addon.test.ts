/**
 * The KVM addon against the real /dev/kvm (PVM here, hardware elsewhere): tiny guests written by the tests in
 * real, protected and long mode, the devices, the run loop's ends (hlt, exit port, reset, triple fault,
 * timeout, cancel), errors, and resource release.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TvctlError } from '../../src/errors.js';
import { createLinuxVm } from '../../src/vm/linux-vm.js';
import { KvmVm, kvmAddonAvailable, kvmAddonPath, type KvmRunResult } from '../../src/vm/kvm.js';
import { probeKvm } from '../../src/vm/probe.js';
import { bootCpuState, realModeState } from '../../src/vm/x86-cpu.js';
import { assembleGuest } from '../fixtures/guests/assemble.js';
import { provided, withReason } from '../helpers/prereq.js';

const probe = kvmAddonAvailable() ? probeKvm() : undefined;
// The addon is set-up's business (a failure in CI); whether /dev/kvm works is the host's.
const skipReason =
  provided(kvmAddonAvailable() ? undefined : `the KVM addon is not built (${kvmAddonPath()})`) ??
  (probe?.device.accessible ? undefined : `/dev/kvm not usable: ${probe?.meaning}`);
// Inside scripts/kvm-harness.sh (TVCTL_REQUIRE_HARDWARE_KVM=1) these run on hardware-assisted KVM, never skip.
if (process.env['TVCTL_REQUIRE_HARDWARE_KVM'] === '1' && (skipReason !== undefined || probe?.kind !== 'hardware'))
  throw new Error(`TVCTL_REQUIRE_HARDWARE_KVM=1, but KVM here is "${probe?.kind}": ${skipReason ?? probe?.meaning}`);

const LOAD = 0x1000;
const EXIT_PORT = 0xf4;

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

type Bits = 16 | 32 | 64;
function guestVm(name: string, bits: Bits, opts: { irqchip?: boolean; memoryMiB?: number } = {}): KvmVm {
  const vm = KvmVm.create({ memoryMiB: opts.memoryMiB ?? 2, irqchip: opts.irqchip ?? false, exitPort: EXIT_PORT });
  vm.write(LOAD, assembleGuest(name, bits, LOAD));
  if (bits === 16) {
    vm.setSpecialRegisters(0, realModeState());
  } else {
    const s = bootCpuState(bits === 32 ? 'protected32' : 'long64');
    for (const m of s.memory) vm.write(m.addr, m.bytes);
    vm.setSpecialRegisters(0, s.sregs);
  }
  vm.setRegisters(0, { rip: LOAD, rflags: 2, rsp: 0x8000 });
  return vm;
}

describe.skipIf(skipReason !== undefined)(withReason('KVM addon: tiny guests', skipReason), () => {
  const vms: KvmVm[] = [];
  const track = (vm: KvmVm): KvmVm => (vms.push(vm), vm);
  afterEach(() => {
    for (const vm of vms.splice(0)) vm.destroy();
  });

  it('real mode: computes 1+..+10, prints hello on the UART, reports 55 on the exit port', async () => {
    const vm = track(guestVm('real16.S', 16));
    const t0 = performance.now();
    const r = await vm.run({ timeoutMs: 10_000 });
    console.log(
      `real-mode guest: ${(performance.now() - t0).toFixed(1)} ms wall, ${r.durationMs.toFixed(2)} ms in the VM, ${r.exits} exits`,
    );
    expect(r.reason).toBe('exit-port');
    expect(r.exitValue).toBe(55);
    expect(r.console).toBe('hello\n');
    expect(vm.read(0x7000, 2).readUInt16LE(0)).toBe(55);
  });

  it('32-bit protected mode: 12! in memory, hello on the UART, ends with hlt (KVM_EXIT_HLT, no irqchip)', async () => {
    const vm = track(guestVm('protected32.S', 32));
    const r = await vm.run({ timeoutMs: 10_000 });
    expect(r.reason).toBe('hlt');
    expect(r.detail).toBe('hlt instruction');
    expect(r.console).toBe('hello from protected mode\n');
    expect(vm.read(0x7000, 4).readUInt32LE(0)).toBe(479001600);
  });

  it('64-bit long mode: fib(90) in memory, ends halted with interrupts off under the in-kernel irqchip', async () => {
    const vm = track(guestVm('long64.S', 64, { irqchip: true }));
    const t0 = performance.now();
    const r = await vm.run({ timeoutMs: 10_000 });
    console.log(`long-mode guest with irqchip: ${(performance.now() - t0).toFixed(1)} ms wall to the hlt verdict`);
    expect(r.reason).toBe('hlt');
    expect(r.detail).toBe('halted with interrupts disabled');
    expect(r.console).toBe('hello from long mode\n');
    expect(vm.read(0x7000, 8).readBigUInt64LE(0)).toBe(2880067194370816120n);
    const regs = vm.getRegisters(0);
    expect(regs.rflags & 0x200n).toBe(0n);
    expect(vm.getSpecialRegisters(0).efer & 0x400n).toBe(0x400n); // LMA: really ran in long mode
  });

  it('devices: unknown ports read 0xff, UART scratch, divisor latch, IER and LSR behave', async () => {
    const vm = track(guestVm('ports.S', 16));
    const r = await vm.run({ timeoutMs: 10_000 });
    expect(r.reason).toBe('exit-port');
    expect(r.exitValue).toBe(0x0f);
  });

  it('UART interrupt: THR-empty raises IRQ 4 through the in-kernel 8259 and wakes a halted guest', async () => {
    const r = await track(guestVm('uart-irq.S', 16, { irqchip: true })).run({ timeoutMs: 10_000 });
    expect(r.reason).toBe('exit-port');
    expect(r.exitValue).toBe(0x102); // handler ran and IIR said "THR empty"
  });

  it('UART receive: bytes sent from JS arrive in RBR while the guest polls LSR', async () => {
    const vm = track(guestVm('uart-rx.S', 16));
    const run = vm.start({ timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 50)); // the guest is polling by now
    vm.sendInput('A');
    const r = await run.result;
    expect(r.reason).toBe('exit-port');
    expect(r.exitValue).toBe(0x41);
  });

  it('four serial ports: COM1..COM4 output kept apart (ttyS0..ttyS3), input to COM2', async () => {
    const vm = track(guestVm('serial4.S', 16));
    const ports: number[] = [];
    const run = vm.start({ timeoutMs: 10_000, onOutput: (_s, port) => ports.push(port) });
    await new Promise((r) => setTimeout(r, 50));
    vm.sendInput('Z', 1);
    const r = await run.result;
    expect(r.reason).toBe('hlt');
    expect(r.serial).toEqual(['a', 'bZ', 'c', 'd']);
    expect(r.console).toBe('a');
    expect(new Set(ports)).toEqual(new Set([0, 1, 2, 3]));
    expect(() => vm.sendInput('x', 4)).toThrow(/serial port must be 0..3/);
  });

  it('0xfe to port 0x64 (i8042 reset line) ends the run with reason reset', async () => {
    const r = await track(guestVm('reset.S', 16)).run({ timeoutMs: 10_000 });
    expect(r.reason).toBe('reset');
  });

  it('a triple fault ends the run with reason shutdown', async () => {
    const r = await track(guestVm('triplefault.S', 32)).run({ timeoutMs: 10_000 });
    console.log('triple fault:', r.reason, r.detail);
    expect(r.reason).toBe('shutdown');
  });

  it('streams console output while the guest runs, on the event loop, and cancels', async () => {
    const vm = track(guestVm('chatter.S', 16, { irqchip: true }));
    const run = vm.start({ timeoutMs: 60_000 });
    const streamed: string[] = [];
    run.console.on('data', (c: Buffer) => streamed.push(c.toString()));
    // The event loop keeps turning while the vCPU runs: timers fire. Waited for (not assumed from a time
    // budget: how many lines the guest prints per timer tick depends on this machine's speed, and under
    // emulation the first lines may come at once); a vCPU that blocked the loop would hang here until the
    // test's timeout.
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    while (streamed.join('').split('tick\n').length < 4 || ticks < 3) await new Promise((r) => setTimeout(r, 20));
    expect(vm.running).toBe(true);
    const t0 = performance.now();
    run.cancel();
    const r = await run.result;
    clearInterval(timer);
    console.log(`cancel → result: ${(performance.now() - t0).toFixed(1)} ms`);
    expect(r.reason).toBe('cancelled');
    expect(ticks).toBeGreaterThan(2);
    expect(r.console.startsWith('tick\ntick\ntick\n')).toBe(true);
    expect(streamed.join('')).toBe(r.console);
    expect(vm.running).toBe(false);
  });

  it('an AbortSignal cancels; a timeout ends a guest that never stops', async () => {
    const vm = track(guestVm('chatter.S', 16));
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    expect((await vm.run({ timeoutMs: 60_000, signal: ac.signal })).reason).toBe('cancelled');
    const t0 = performance.now();
    const r = await vm.run({ timeoutMs: 300 });
    const wall = performance.now() - t0;
    expect(r.reason).toBe('timeout');
    expect(wall).toBeGreaterThanOrEqual(290);
    expect(wall).toBeLessThan(5_000);
  });

  it('destroy during a run stops it and releases everything', async () => {
    const before = openFds();
    const vm = guestVm('chatter.S', 16, { irqchip: true });
    const result = vm.run({ timeoutMs: 60_000 });
    await new Promise((r) => setTimeout(r, 50));
    vm.destroy();
    expect((await result).reason).toBe('cancelled');
    expect(vm.destroyed).toBe(true);
    expect(() => vm.read(0, 1)).toThrow(/destroyed/);
    expect(openFds()).toBe(before);
  });

  it('100 create/destroy cycles leave no fd behind (and 2 vCPUs + irqchip each)', () => {
    const warm = KvmVm.create({ memoryMiB: 16, vcpus: 2 });
    warm.destroy();
    const before = openFds();
    const t0 = performance.now();
    for (let i = 0; i < 100; i++) {
      const vm = KvmVm.create({ memoryMiB: 16, vcpus: 2 });
      vm.write(0x100000, new Uint8Array([1, 2, 3]));
      vm.destroy();
    }
    const per = (performance.now() - t0) / 100;
    console.log(`create+destroy (16 MiB, 2 vCPUs, irqchip+PIT): ${per.toFixed(2)} ms per cycle`);
    expect(openFds()).toBe(before);
  });

  it('guest memory bounds are enforced', () => {
    const vm = track(KvmVm.create({ memoryMiB: 2, irqchip: false }));
    expect(() => vm.write(2 * 1024 * 1024 - 1, new Uint8Array(2))).toThrow(/outside guest memory/);
    expect(() => vm.read(0x300000, 1)).toThrow(/outside guest memory/);
    vm.write(2 * 1024 * 1024 - 2, new Uint8Array([7, 9]));
    expect([...vm.read(2 * 1024 * 1024 - 2, 2)]).toEqual([7, 9]);
  });
});

describe.skipIf(skipReason !== undefined)(withReason('KVM addon: errors', skipReason), () => {
  let tmp: string;
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'tvctl-kvm-err-'));
    return () => rmSync(tmp, { recursive: true, force: true });
  });

  it('a missing device: KVM_NOT_FOUND with a clear message, nothing leaked', () => {
    const before = openFds();
    const err = (() => {
      try {
        KvmVm.create({ memoryMiB: 16, devicePath: join(tmp, 'no-kvm') });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(TvctlError);
    expect((err as TvctlError).code).toBe('KVM_NOT_FOUND');
    expect((err as TvctlError).message).toMatch(/no-kvm does not exist: KVM is not available/);
    expect(openFds()).toBe(before);
    const p = probeKvm({ devicePath: join(tmp, 'no-kvm') });
    expect(p.kind).toBe('none');
    expect(p.device.present).toBe(false);
  });

  it('a device that is not KVM (/dev/null): a clear error, nothing leaked', () => {
    const before = openFds();
    expect(() => KvmVm.create({ memoryMiB: 16, devicePath: '/dev/null' })).toThrow(
      /KVM API version -1 is not the supported version 12/,
    );
    expect(openFds()).toBe(before);
  });

  const worldUsable = (statSync('/dev/kvm', { throwIfNoEntry: false })?.mode ?? 0) & 0o006;
  it.skipIf(worldUsable !== 0)(
    withReason(
      'no permission: an unprivileged user gets KVM_PERMISSION',
      worldUsable ? '/dev/kvm is usable by every user on this host' : undefined,
    ),
    () => {
      // /dev/kvm is root-only here; run the same library as "nobody" in a child process.
      const script = join(tmp, 'perm.mjs');
      writeFileSync(
        script,
        `import { createRequire } from 'node:module';
const a = createRequire(import.meta.url)(${JSON.stringify(kvmAddonPath())});
try { new a.KvmMachine({ devicePath: '/dev/kvm', memoryBytes: 16 * 1048576, vcpus: 1, irqchip: true }); console.log('OPENED'); }
catch (e) { console.log(e.code + ': ' + e.message); }
console.log('probe', JSON.stringify(a.probe('/dev/kvm')));`,
      );
      execFileSync('chmod', ['0755', tmp]);
      execFileSync('chmod', ['0644', script]);
      const r = spawnSync(process.execPath, [script], { uid: 65534, gid: 65534, encoding: 'utf8' });
      expect(r.stdout).toMatch(/^KVM_PERMISSION: no permission to open \/dev\/kvm \(run as root or join the group/m);
      expect(r.stdout).toMatch(/"present":true,"accessible":false/);
    },
  );

  it('too little memory for a memory size of 0 and for the kernel: refused before any fd is opened', () => {
    const before = openFds();
    expect(() => KvmVm.create({ memoryMiB: 0 })).toThrow(/at least|>= 1/);
    // A synthetic bzImage whose init_size needs 64 MiB.
    const img = new Uint8Array(8192);
    const v = new DataView(img.buffer);
    v.setUint8(0x1f1, 4);
    v.setUint16(0x1fe, 0xaa55, true);
    v.setUint8(0x201, 0x6a);
    img.set(Buffer.from('HdrS'), 0x202);
    v.setUint16(0x206, 0x020f, true);
    v.setUint8(0x211, 1);
    v.setUint32(0x238, 255, true);
    v.setUint32(0x260, 64 << 20, true);
    expect(() => createLinuxVm({ kernel: img, cmdline: 'x', memoryMiB: 32 })).toThrow(
      /guest memory 32 MiB is too small for this kernel: it needs at least 69 MiB/,
    );
    expect(() =>
      createLinuxVm({
        kernel: new Uint8Array(readFileSync('/bin/true')),
        kernelName: '/bin/true',
        cmdline: 'x',
        memoryMiB: 64,
      }),
    ).toThrow(/\/bin\/true is not a Linux bzImage/);
    expect(openFds()).toBe(before);
  });
});

export type { KvmRunResult };
