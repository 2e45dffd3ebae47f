/**
 * Linux x86 boot protocol, as pure functions: parse a bzImage's setup header, plan where everything goes in
 * guest RAM (protected-mode kernel at 1 MiB, zero page, command line, initrd at the top), build the e820 map
 * and the boot_params "zero page". `loadLinux` writes the plan into a KvmVm and sets the entry registers.
 * Reference: Documentation/arch/x86/boot.rst.
 */
import { TvctlError } from '../errors.js';
import type { KvmVm } from './kvm.js';
import { bootCpuState, type CpuMode } from './x86-cpu.js';

export const ZERO_PAGE_ADDR = 0x7000;
export const CMDLINE_ADDR = 0x20000;
export const KERNEL_ADDR = 0x100000;
/** RAM above 3 GiB is mapped from 4 GiB by the addon (the PCI hole). */
export const PCI_HOLE_START = 0xc0000000;
const FOUR_GIB = 0x100000000;

/** The oldest protocol we accept: 2.06 added cmdline_size (and 2.02+ is needed for a 32-bit entry at all). */
export const MIN_BOOT_PROTOCOL = 0x0206;

const LOADED_HIGH = 0x01;
const XLF_KERNEL_64 = 0x01;

export interface SetupHeader {
  setupSects: number;
  /** e.g. 0x020f for 2.15 */
  version: number;
  loadflags: number;
  initrdAddrMax: number;
  kernelAlignment: number;
  relocatable: boolean;
  xloadflags: number;
  cmdlineSize: number;
  payloadOffset: number;
  payloadLength: number;
  prefAddress: bigint;
  initSize: number;
  /** Offset just past the header in the image (0x202 + the jump's byte offset at 0x201). */
  headerEnd: number;
}

export interface BzImage {
  header: SetupHeader;
  /** The setup code + header (real-mode part), copied into the zero page from 0x1f1 to headerEnd. */
  setup: Uint8Array;
  /** The protected-mode kernel, loaded at 1 MiB. */
  kernel: Uint8Array;
  versionString: string;
}

export function formatProtocol(v: number): string {
  return `${v >> 8}.${(v & 0xff).toString().padStart(2, '0')}`;
}

/** Parses and checks a bzImage. Throws TvctlError NOT_BZIMAGE / BOOT_PROTOCOL with what is wrong. */
export function parseBzImage(image: Uint8Array, name = 'kernel image'): BzImage {
  if (image.length < 0x300) {
    throw new TvctlError('NOT_BZIMAGE', `${name} is not a Linux bzImage (only ${image.length} bytes)`);
  }
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const magic = String.fromCharCode(...image.subarray(0x202, 0x206));
  const bootFlag = view.getUint16(0x1fe, true);
  if (magic !== 'HdrS' || bootFlag !== 0xaa55) {
    throw new TvctlError(
      'NOT_BZIMAGE',
      `${name} is not a Linux bzImage (no "HdrS" setup header at 0x202 / boot flag 0xAA55 at 0x1fe)`,
    );
  }
  const version = view.getUint16(0x206, true);
  if (version < MIN_BOOT_PROTOCOL) {
    throw new TvctlError(
      'BOOT_PROTOCOL',
      `${name} uses boot protocol ${formatProtocol(version)}; at least ${formatProtocol(MIN_BOOT_PROTOCOL)} is needed`,
    );
  }
  const loadflags = view.getUint8(0x211);
  if (!(loadflags & LOADED_HIGH)) {
    throw new TvctlError('BOOT_PROTOCOL', `${name} is a zImage (not loaded high); only bzImages are supported`);
  }
  let setupSects = view.getUint8(0x1f1);
  if (setupSects === 0) setupSects = 4;
  const setupBytes = (setupSects + 1) * 512;
  if (setupBytes >= image.length)
    throw new TvctlError('NOT_BZIMAGE', `${name} is truncated (setup is ${setupBytes} bytes)`);
  const headerEnd = 0x202 + view.getUint8(0x201);
  const header: SetupHeader = {
    setupSects,
    version,
    loadflags,
    initrdAddrMax: view.getUint32(0x22c, true),
    kernelAlignment: view.getUint32(0x230, true),
    relocatable: view.getUint8(0x234) !== 0,
    xloadflags: version >= 0x020c ? view.getUint16(0x236, true) : 0,
    cmdlineSize: view.getUint32(0x238, true),
    payloadOffset: version >= 0x0208 ? view.getUint32(0x248, true) : 0,
    payloadLength: version >= 0x0208 ? view.getUint32(0x24c, true) : 0,
    prefAddress: version >= 0x020a ? view.getBigUint64(0x258, true) : BigInt(KERNEL_ADDR),
    initSize: version >= 0x020a ? view.getUint32(0x260, true) : 0,
    headerEnd,
  };
  // The kernel version string: a NUL-terminated string at 0x200 + kernel_version (2.00+), if set.
  let versionString = '';
  const kv = view.getUint16(0x20e, true);
  if (kv !== 0 && kv + 0x200 < setupBytes) {
    const start = kv + 0x200;
    let end = start;
    while (end < setupBytes && image[end] !== 0) end++;
    versionString = Buffer.from(image.subarray(start, end)).toString('latin1');
  }
  return { header, setup: image.subarray(0, setupBytes), kernel: image.subarray(setupBytes), versionString };
}

export const E820_RAM = 1;
export const E820_RESERVED = 2;

export interface E820Entry {
  addr: number;
  size: number;
  type: number;
}

/** The guest's memory map: low RAM, the EBDA and BIOS holes, RAM from 1 MiB, RAM above 4 GiB if any. */
export function buildE820(memoryBytes: number): E820Entry[] {
  const low = Math.min(memoryBytes, PCI_HOLE_START);
  const map: E820Entry[] = [
    { addr: 0, size: 0x9fc00, type: E820_RAM },
    { addr: 0x9fc00, size: 0xa0000 - 0x9fc00, type: E820_RESERVED },
    { addr: 0xf0000, size: 0x10000, type: E820_RESERVED },
    { addr: 0x100000, size: low - 0x100000, type: E820_RAM },
  ];
  if (memoryBytes > low) map.push({ addr: FOUR_GIB, size: memoryBytes - low, type: E820_RAM });
  return map;
}

/** How a range is printed by Linux: `BIOS-e820: [mem 0x0000000000100000-0x0000000007ffffff] usable`. */
export function formatE820Line(e: E820Entry): string {
  const hex = (n: number): string => `0x${n.toString(16).padStart(16, '0')}`;
  return `BIOS-e820: [mem ${hex(e.addr)}-${hex(e.addr + e.size - 1)}] ${e.type === E820_RAM ? 'usable' : 'reserved'}`;
}

export interface LinuxBootPlan {
  entry: CpuMode;
  /** Guest-physical entry point: 1 MiB for the 32-bit entry, 1 MiB + 0x200 for startup_64. */
  entryAddr: number;
  zeroPage: Uint8Array;
  cmdline: Uint8Array;
  initrdAddr: number;
  e820: E820Entry[];
  /** The least guest memory this kernel + initrd can be placed in. */
  minMemoryBytes: number;
}

export interface LinuxBootOptions {
  cmdline: string;
  initrd?: Uint8Array;
  memoryBytes: number;
  /** 64-bit entry (startup_64) when the kernel supports it (default), else the 32-bit protected-mode entry. */
  entry?: CpuMode;
}

const pageUp = (n: number): number => Math.ceil(n / 4096) * 4096;

/** Plans a boot: checks sizes against memory, places the initrd, builds the zero page. Pure. */
export function planLinuxBoot(image: BzImage, opts: LinuxBootOptions): LinuxBootPlan {
  const h = image.header;
  const cmdBytes = Buffer.from(opts.cmdline + '\0', 'latin1');
  const maxCmd = h.cmdlineSize || 255;
  if (cmdBytes.length - 1 > maxCmd) {
    throw new TvctlError(
      'BOOT_CMDLINE',
      `kernel command line is ${cmdBytes.length - 1} bytes; this kernel takes at most ${maxCmd}`,
    );
  }
  let entry: CpuMode = opts.entry ?? 'long64';
  if (entry === 'long64' && !(h.version >= 0x020c && h.xloadflags & XLF_KERNEL_64)) entry = 'protected32';

  // The kernel decompresses in place from 1 MiB: it needs init_size bytes there (at least its own size).
  const kernelEnd = KERNEL_ADDR + pageUp(Math.max(h.initSize, image.kernel.length));
  const initrdSize = opts.initrd?.length ?? 0;
  const minMemoryBytes = pageUp(kernelEnd + pageUp(initrdSize) + 4 * 1024 * 1024);
  if (opts.memoryBytes < minMemoryBytes) {
    throw new TvctlError(
      'VM_MEMORY_TOO_SMALL',
      `guest memory ${Math.floor(opts.memoryBytes / 1048576)} MiB is too small for this kernel` +
        (initrdSize ? ' and initrd' : '') +
        `: it needs at least ${Math.ceil(minMemoryBytes / 1048576)} MiB (kernel init_size ${Math.ceil(h.initSize / 1048576)} MiB)`,
    );
  }
  const e820 = buildE820(opts.memoryBytes);
  // The initrd goes as high as allowed: below initrd_addr_max and below the end of low RAM, page aligned.
  let initrdAddr = 0;
  if (initrdSize > 0) {
    const lowEnd = Math.min(opts.memoryBytes, PCI_HOLE_START);
    const top = Math.min(lowEnd, (h.initrdAddrMax || 0x37ffffff) + 1);
    initrdAddr = Math.floor((top - initrdSize) / 4096) * 4096;
    if (initrdAddr < kernelEnd) {
      throw new TvctlError(
        'VM_MEMORY_TOO_SMALL',
        `the initrd (${Math.ceil(initrdSize / 1048576)} MiB) does not fit below the kernel's limit; give the VM more memory`,
      );
    }
  }

  const zp = new Uint8Array(4096);
  const view = new DataView(zp.buffer);
  // The setup header as the image has it (0x1f1 .. end of header), then the fields a loader must fill in.
  zp.set(image.setup.subarray(0x1f1, Math.min(h.headerEnd, image.setup.length)), 0x1f1);
  view.setUint16(0x1fa, 0xffff, true); // vid_mode: "normal"
  view.setUint8(0x210, 0xff); // type_of_loader: undefined loader
  view.setUint8(0x211, (h.loadflags | 0x80) & ~0x20); // CAN_USE_HEAP; clear QUIET_FLAG so early messages print
  view.setUint16(0x224, 0xfe00, true); // heap_end_ptr
  view.setUint32(0x228, CMDLINE_ADDR, true); // cmd_line_ptr
  view.setUint32(0x218, initrdAddr, true); // ramdisk_image
  view.setUint32(0x21c, initrdSize, true); // ramdisk_size
  view.setUint32(0x214, KERNEL_ADDR, true); // code32_start
  view.setUint8(0x1e8, e820.length); // e820_entries
  e820.forEach((e, i) => {
    const off = 0x2d0 + i * 20;
    view.setBigUint64(off, BigInt(e.addr), true);
    view.setBigUint64(off + 8, BigInt(e.size), true);
    view.setUint32(off + 16, e.type, true);
  });
  return {
    entry,
    entryAddr: entry === 'long64' ? KERNEL_ADDR + 0x200 : KERNEL_ADDR,
    zeroPage: zp,
    cmdline: new Uint8Array(cmdBytes),
    initrdAddr,
    e820,
    minMemoryBytes,
  };
}

/** Writes a planned boot into a fresh VM and points vCPU 0 at the kernel's entry. */
export function loadLinux(vm: KvmVm, image: BzImage, opts: Omit<LinuxBootOptions, 'memoryBytes'>): LinuxBootPlan {
  const plan = planLinuxBoot(image, { ...opts, memoryBytes: vm.memoryBytes });
  vm.write(KERNEL_ADDR, image.kernel);
  vm.write(ZERO_PAGE_ADDR, plan.zeroPage);
  vm.write(CMDLINE_ADDR, plan.cmdline);
  if (opts.initrd && opts.initrd.length > 0) vm.write(plan.initrdAddr, opts.initrd);
  const cpu = bootCpuState(plan.entry);
  for (const m of cpu.memory) vm.write(m.addr, m.bytes);
  vm.setSpecialRegisters(0, cpu.sregs);
  // Boot protocol: rsi/esi = zero page; ebp, edi, ebx = 0; interrupts off (rflags bit 1 is reserved-one).
  vm.setRegisters(0, { rip: plan.entryAddr, rsi: ZERO_PAGE_ADDR, rflags: 2, rsp: 0, rbp: 0, rdi: 0, rbx: 0 });
  return plan;
}
