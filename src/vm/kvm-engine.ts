/**
 * The kvm engine: the KVM addon boots the guest kernel itself (no QEMU process). Same initramfs, guest init,
 * command line and guest-init protocol (guest-protocol.ts) as the QEMU engine; the addon's UARTs carry the
 * same streams: COM1 = ttyS0 (kernel console + the guest init's markers), COM2 = ttyS1 (the command's
 * stdout), COM3 = ttyS2 (its stderr). The kernel is entered at its PVH entry when we have the extracted ELF vmlinux (the host
 * decompresses; much faster under software KVM), else through the bzImage boot protocol.
 *
 * It needs hardware-assisted KVM. Under software PVM a Linux guest dies early on an instruction PVM does not
 * emulate, so the engine is refused there unless TVCTL_KVM_ALLOW_SOFTWARE=1 (a diagnostic: it shows how far
 * the boot gets, and lets the tests exercise this engine's wiring on a PVM host).
 */
import { promises as fsp } from 'node:fs';
import { TvctlError } from '../errors.js';
import type { GuestBootSpec, VmEngine } from './engine.js';
import { GuestConsoleMonitor, type GuestRunIO, type GuestRunResult } from './guest-protocol.js';
import { KvmVm, type KvmRunResult } from './kvm.js';
import { createLinuxVm } from './linux-vm.js';
import type { EngineAssessment } from './probe.js';
import { loadPvh, parseVmlinux, planPvhBoot } from './pvh.js';

/** Diagnostic override: let `--engine kvm` run on software KVM (PVM), where a Linux guest cannot finish. */
export const KVM_ALLOW_SOFTWARE_ENV = 'TVCTL_KVM_ALLOW_SOFTWARE';

/**
 * earlyprintk: the console from the first instruction (silent unless --debug raises the log level), so a
 * boot that dies early still shows how far it got. reboot=k: no ACPI here, so a panic reboot goes through
 * the i8042 reset line, which ends the run.
 */
export const KVM_KERNEL_PARAMS: readonly string[] = ['earlyprintk=ttyS0,115200', 'reboot=k'];

/** After the exit marker the guest powers off by itself; if it has not within this time, we stop it. */
export const POWER_OFF_GRACE_MS = 3000;

export type KvmEngineDecision = { use: true; hardware: boolean; why: string } | { use: false; why: string };

/** Pure: may the kvm engine run here, given the probe's assessment of it and the environment? */
export function kvmEngineDecision(
  assessment: Pick<EngineAssessment, 'usable' | 'fullLinux' | 'why'>,
  env: Readonly<Record<string, string | undefined>>,
): KvmEngineDecision {
  if (assessment.usable && assessment.fullLinux) return { use: true, hardware: true, why: assessment.why };
  if (assessment.usable && env[KVM_ALLOW_SOFTWARE_ENV] === '1') {
    return {
      use: true,
      hardware: false,
      why: `${KVM_ALLOW_SOFTWARE_ENV}=1 (diagnostic): software KVM, the guest is not expected to finish booting`,
    };
  }
  return { use: false, why: assessment.why };
}

/** Pure: one line saying why the VM ended before the guest init reported, from the addon's run result. */
export function describeKvmStop(
  r: Pick<KvmRunResult, 'reason' | 'rip' | 'durationMs'> & { detail?: string | undefined },
  timeoutMs = 0,
): string {
  const at = `rip 0x${r.rip.toString(16)}, after ${(r.durationMs / 1000).toFixed(1)} s`;
  switch (r.reason) {
    case 'error':
      if (/emulation failed/i.test(r.detail ?? '')) {
        return `the guest died on an instruction this KVM does not emulate (${r.detail}; ${at})`;
      }
      return `KVM error: ${r.detail ?? 'unknown'} (${at})`;
    case 'shutdown':
      return `the guest triple-faulted (KVM_EXIT_SHUTDOWN, ${at})`;
    case 'hlt':
      return `the guest halted with interrupts off (${at})`;
    case 'reset':
      return `the guest reset the machine, e.g. after a kernel panic (${at})`;
    case 'timeout':
      return `no result within ${Math.round((timeoutMs || r.durationMs) / 1000)} s (${at})`;
    case 'cancelled':
      return `the run was cancelled (${at})`;
    case 'exit-port':
      return `the guest wrote to the exit port (${at})`;
    default:
      return `the run ended: ${String(r.reason)} (${at})`;
  }
}

const isElf = (b: Uint8Array): boolean => b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46;

/** Creates the VM with the kernel, initramfs and command line loaded; checks everything before any fd exists. */
export function loadGuest(kernel: Uint8Array, kernelName: string, initrd: Uint8Array, spec: GuestBootSpec): KvmVm {
  if (!isElf(kernel)) {
    return createLinuxVm({
      kernel,
      kernelName,
      initrd,
      cmdline: spec.cmdline,
      memoryMiB: spec.memoryMiB,
      boot: 'bzimage',
    }).vm;
  }
  const elf = parseVmlinux(kernel);
  planPvhBoot(elf, { cmdline: spec.cmdline, memoryBytes: spec.memoryMiB * 1048576, initrdSize: initrd.length });
  const vm = KvmVm.create({ memoryMiB: spec.memoryMiB, vcpus: 1 });
  try {
    loadPvh(vm, kernel, elf, { cmdline: spec.cmdline, initrd });
  } catch (err) {
    vm.destroy();
    throw err;
  }
  return vm;
}

export class KvmEngine implements VmEngine {
  readonly name = 'kvm' as const;
  readonly kernelParams = KVM_KERNEL_PARAMS as string[];
  constructor(
    /** hardware-assisted KVM; false only under the diagnostic override */
    readonly hardware: boolean,
    readonly why: string,
  ) {}

  get label(): string {
    return this.hardware ? 'kvm (hardware)' : 'kvm (software PVM)';
  }

  describeStop(r: GuestRunResult): string {
    return r.vmmStderr || 'the VM stopped';
  }

  async run(
    spec: GuestBootSpec,
    io: GuestRunIO,
    opts: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<GuestRunResult> {
    if (spec.cpus !== 1) {
      // PVH without ACPI/MP tables: Linux sees only the boot CPU.
      throw new TvctlError('VM_ENGINE_UNAVAILABLE', '--engine kvm runs one vCPU; use --cpus 1 or --engine qemu');
    }
    // The files as read (a Buffer is a Uint8Array: no copy), and not held in a variable across the run: once
    // in guest memory they are garbage, not ~50 MiB of the VMM's resident memory for the guest's lifetime.
    const read = async (file: string, what: string): Promise<Uint8Array> => {
      try {
        return await fsp.readFile(file);
      } catch (err) {
        throw new TvctlError('VM_FILE', `${what} ${file}: ${(err as Error).message}`);
      }
    };
    const t0 = performance.now();
    const vm = loadGuest(await read(spec.kernel, 'kernel'), spec.kernel, await read(spec.initrd, 'initramfs'), spec);
    const monitor = new GuestConsoleMonitor(spec.nonce, io, t0);
    let grace: NodeJS.Timeout | undefined;
    try {
      const run = vm.start({
        timeoutMs: opts.timeoutMs ?? 0,
        ...(opts.signal ? { signal: opts.signal } : {}),
        onOutput: (chunk, port) => {
          const b = Buffer.from(chunk, 'latin1');
          if (port === 1) io.onStdout(b);
          else if (port === 2) io.onStderr(b);
          else if (port === 0) {
            for (const m of monitor.console(b)) {
              if (m.kind !== 'init' && !grace) grace = setTimeout(() => vm.cancel(), POWER_OFF_GRACE_MS);
            }
          }
        },
      });
      const r = await run.result;
      const result = monitor.end();
      result.vmmStderr = describeKvmStop(r, opts.timeoutMs);
      return result;
    } finally {
      clearTimeout(grace);
      vm.destroy();
    }
  }
}
