/**
 * The KVM addon (native/kvm, built by node-gyp at `npm ci`) with types. This is the only module that loads
 * the `.node` file; everything else uses `KvmVm` and `probeKvmDevice` from here.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { TvctlError } from '../errors.js';
import { packageRoot } from '../paths.js';

export const DEFAULT_KVM_DEVICE = '/dev/kvm';

/** What the addon reports about the device node (see probe.ts for the interpretation). */
export interface KvmDeviceProbe {
  devicePath: string;
  present: boolean;
  accessible: boolean;
  error?: string;
  errno: number;
  /** KVM_GET_API_VERSION; 12 on every kernel since 2.6.22, -1 if it could not be asked. */
  apiVersion: number;
  /** KVM_CHECK_EXTENSION results, by capability name (0 = absent). */
  extensions: Record<string, number>;
}

/** An x86 segment register as KVM sees it (struct kvm_segment). */
export interface Segment {
  base: bigint | number;
  limit: number;
  selector: number;
  type: number;
  present: number;
  dpl: number;
  db: number;
  s: number;
  l: number;
  g: number;
  avl?: number;
  unusable?: number;
}

export type RegisterName =
  | 'rax'
  | 'rbx'
  | 'rcx'
  | 'rdx'
  | 'rsi'
  | 'rdi'
  | 'rsp'
  | 'rbp'
  | 'r8'
  | 'r9'
  | 'r10'
  | 'r11'
  | 'r12'
  | 'r13'
  | 'r14'
  | 'r15'
  | 'rip'
  | 'rflags';
export type Registers = Record<RegisterName, bigint>;

export interface SpecialRegisters {
  cs: Segment;
  ds: Segment;
  es: Segment;
  fs: Segment;
  gs: Segment;
  ss: Segment;
  tr: Segment;
  ldt: Segment;
  cr0: bigint;
  cr3: bigint;
  cr4: bigint;
  efer: bigint;
}
export interface SpecialRegistersUpdate {
  cs?: Segment;
  ds?: Segment;
  es?: Segment;
  fs?: Segment;
  gs?: Segment;
  ss?: Segment;
  tr?: Segment;
  ldt?: Segment;
  cr0?: bigint | number;
  cr3?: bigint | number;
  cr4?: bigint | number;
  efer?: bigint | number;
  gdt?: { base: bigint | number; limit: number };
  idt?: { base: bigint | number; limit: number };
}

/** Why a run ended. */
export type RunEndReason = 'hlt' | 'shutdown' | 'reset' | 'exit-port' | 'timeout' | 'cancelled' | 'error';

export interface KvmRunResult {
  reason: RunEndReason;
  detail?: string;
  /** The value written to the exit port (reason "exit-port"). */
  exitValue: number;
  /** Exits to user space handled by the VMM (port I/O, MMIO, ...). */
  exits: number;
  /** vCPU 0's instruction pointer when the run ended. */
  rip: bigint;
  durationMs: number;
  /** All console output of the run (COM1, ttyS0). */
  console: string;
  /** Output of each serial port COM1..COM4 (ttyS0..ttyS3); [0] is `console`. */
  serial: [string, string, string, string];
}

/** What the addon's run resolves with; the serial output comes separately, as it streams. */
type NativeRunResult = Omit<KvmRunResult, 'console' | 'serial'>;

interface NativeMachine {
  write(addr: number | bigint, data: Uint8Array): void;
  read(addr: number | bigint, length: number): Buffer;
  getRegisters(vcpu: number): Registers;
  setRegisters(vcpu: number, regs: Partial<Record<RegisterName, bigint | number>>): void;
  getSpecialRegisters(vcpu: number): SpecialRegisters;
  setSpecialRegisters(vcpu: number, sregs: SpecialRegistersUpdate): void;
  run(timeoutMs: number, onOutput: (chunk: Buffer, port: number) => void): Promise<NativeRunResult>;
  cancel(): void;
  sendInput(data: Uint8Array, port?: number): void;
  destroy(): void;
  readonly memoryBytes: number;
  readonly vcpus: number;
  readonly running: boolean;
  readonly destroyed: boolean;
}

interface NativeAddon {
  abiVersion: number;
  probe(devicePath: string): KvmDeviceProbe;
  KvmMachine: new (opts: {
    devicePath: string;
    memoryBytes: number;
    vcpus: number;
    irqchip: boolean;
    exitPort?: number;
  }) => NativeMachine;
}

let cached: NativeAddon | undefined;

/** Where node-gyp puts the addon (build/Release under the package root). */
export function kvmAddonPath(root: string = packageRoot()): string {
  return join(root, 'build', 'Release', 'tvctl_kvm.node');
}

function loadAddon(): NativeAddon {
  if (cached) return cached;
  const path = kvmAddonPath();
  if (!existsSync(path)) {
    throw new TvctlError(
      'KVM_ADDON_MISSING',
      `the KVM addon is not built (${path} is missing); run "npm ci" or "node scripts/build-native.mjs"`,
    );
  }
  // Anchored at the addon's own path, not import.meta.url: the start-up snapshot (a CJS bundle) has none.
  const abs = resolve(path);
  const require = createRequire(abs);
  cached = require(abs) as NativeAddon;
  return cached;
}

/** True when the addon has been built (so `KvmVm` can be used). */
export function kvmAddonAvailable(): boolean {
  return existsSync(kvmAddonPath());
}

/** Opens the device, asks the API version and the capabilities. Never throws for a missing device. */
export function probeKvmDevice(devicePath: string = DEFAULT_KVM_DEVICE): KvmDeviceProbe {
  return loadAddon().probe(devicePath);
}

export interface KvmVmOptions {
  memoryMiB: number;
  vcpus?: number;
  /** In-kernel irqchip (PIC, IOAPIC, LAPIC) and PIT: on by default, needed by Linux. */
  irqchip?: boolean;
  /** A port whose writes end the run with reason "exit-port" and the written value (like QEMU's isa-debug-exit). */
  exitPort?: number;
  devicePath?: string;
}

export interface KvmRunOptions {
  /** 0 = no timeout. */
  timeoutMs: number;
  /** Serial output as it arrives; `port` 0..3 = COM1..COM4 (ttyS0..ttyS3). */
  onOutput?: (chunk: string, port: number) => void;
  signal?: AbortSignal;
}

/** A run in progress: the console as a stream while the guest runs, and the result when it ends. */
export interface KvmRun {
  /** COM1 (ttyS0), the console. */
  console: Readable;
  /** COM1..COM4 (ttyS0..ttyS3); serial[0] is `console`. */
  serial: [Readable, Readable, Readable, Readable];
  result: Promise<KvmRunResult>;
  cancel(): void;
}

/** Calls into the addon: its errors (code KVM_*) become TvctlErrors, exit 125 like every failed VM start. */
function callAddon<R>(f: () => R): R {
  try {
    return f();
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e && typeof e.code === 'string' && e.code.startsWith('KVM_')) {
      throw new TvctlError(e.code as `KVM_${string}`, e.message, { cause: err });
    }
    throw err;
  }
}

/** A KVM virtual machine: guest RAM, vCPUs, 8250 UARTs at COM1..COM4 (console on COM1), the i8042 reset line. */
export class KvmVm {
  private readonly m: NativeMachine;

  private constructor(m: NativeMachine) {
    this.m = m;
  }

  static create(opts: KvmVmOptions): KvmVm {
    const addon = loadAddon();
    if (!Number.isInteger(opts.memoryMiB) || opts.memoryMiB < 1) {
      throw new TvctlError('KVM_BAD_CONFIG', `guest memory must be a whole number of MiB >= 1 (got ${opts.memoryMiB})`);
    }
    const machine = callAddon(
      () =>
        new addon.KvmMachine({
          devicePath: opts.devicePath ?? DEFAULT_KVM_DEVICE,
          memoryBytes: opts.memoryMiB * 1024 * 1024,
          vcpus: opts.vcpus ?? 1,
          irqchip: opts.irqchip ?? true,
          ...(opts.exitPort !== undefined ? { exitPort: opts.exitPort } : {}),
        }),
    );
    return new KvmVm(machine);
  }

  get memoryBytes(): number {
    return this.m.memoryBytes;
  }
  get vcpus(): number {
    return this.m.vcpus;
  }
  get running(): boolean {
    return this.m.running;
  }
  get destroyed(): boolean {
    return this.m.destroyed;
  }

  /** Copies bytes into guest RAM at a guest-physical address. */
  write(addr: number | bigint, data: Uint8Array): void {
    callAddon(() => this.m.write(addr, data));
  }
  /** Copies bytes out of guest RAM. */
  read(addr: number | bigint, length: number): Buffer {
    return callAddon(() => this.m.read(addr, length));
  }
  getRegisters(vcpu = 0): Registers {
    return callAddon(() => this.m.getRegisters(vcpu));
  }
  setRegisters(vcpu: number, regs: Partial<Record<RegisterName, bigint | number>>): void {
    callAddon(() => this.m.setRegisters(vcpu, regs));
  }
  getSpecialRegisters(vcpu = 0): SpecialRegisters {
    return callAddon(() => this.m.getSpecialRegisters(vcpu));
  }
  setSpecialRegisters(vcpu: number, sregs: SpecialRegistersUpdate): void {
    callAddon(() => this.m.setSpecialRegisters(vcpu, sregs));
  }
  /** Bytes for a serial port's receive buffer (default COM1, the console). */
  sendInput(data: Uint8Array | string, port = 0): void {
    callAddon(() => this.m.sendInput(typeof data === 'string' ? Buffer.from(data) : data, port));
  }

  /** Starts the vCPUs (each on its own thread); console output streams while the guest runs. */
  start(opts: KvmRunOptions): KvmRun {
    const serial: [PassThrough, PassThrough, PassThrough, PassThrough] = [
      new PassThrough(),
      new PassThrough(),
      new PassThrough(),
      new PassThrough(),
    ];
    const chunks: Buffer[][] = [[], [], [], []];
    const native = callAddon(() =>
      this.m.run(opts.timeoutMs, (chunk, port) => {
        chunks[port]?.push(chunk);
        serial[port]?.write(chunk);
        opts.onOutput?.(chunk.toString('latin1'), port);
      }),
    );
    const onAbort = (): void => this.m.cancel();
    if (opts.signal) {
      if (opts.signal.aborted) this.m.cancel();
      else opts.signal.addEventListener('abort', onAbort, { once: true });
    }
    const result = native.then((r) => {
      opts.signal?.removeEventListener('abort', onAbort);
      for (const s of serial) s.end();
      const text = chunks.map((c) => Buffer.concat(c).toString('latin1')) as KvmRunResult['serial'];
      const out: KvmRunResult = {
        reason: r.reason,
        exitValue: r.exitValue,
        exits: r.exits,
        rip: r.rip,
        durationMs: r.durationMs,
        console: text[0],
        serial: text,
      };
      if (r.detail !== undefined) out.detail = r.detail;
      return out;
    });
    return { console: serial[0], serial, result, cancel: () => this.m.cancel() };
  }

  /** `start` and wait for the end. */
  run(opts: KvmRunOptions): Promise<KvmRunResult> {
    return this.start(opts).result;
  }

  cancel(): void {
    this.m.cancel();
  }

  /** Stops any run and releases every fd and mapping. Idempotent. */
  destroy(): void {
    this.m.destroy();
  }
}
