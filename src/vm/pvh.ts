/**
 * The fast boot path: instead of running the bzImage's decompressor in the guest (slow under software KVM),
 * decompress the kernel on the host and enter the uncompressed ELF vmlinux directly at its PVH entry (the
 * Xen ELF note PHYS32_ENTRY), as Firecracker and QEMU do for vmlinux files. The guest gets an hvm_start_info
 * (command line, e820-style memory map, initrd as module 0) instead of a zero page. Pure except `loadPvh`.
 */
import { TvctlError } from '../errors.js';
import { buildE820, parseBzImage, type BzImage, type E820Entry } from './bzimage.js';
import type { KvmVm } from './kvm.js';
import { bootCpuState } from './x86-cpu.js';

export const LZ4_LEGACY_MAGIC = 0x184c2102;
const XEN_ELFNOTE_PHYS32_ENTRY = 18;
const HVM_START_MAGIC = 0x336ec578;

export const START_INFO_ADDR = 0x6000;
export const MEMMAP_ADDR = 0x6100;
export const MODLIST_ADDR = 0x6080;
export const PVH_CMDLINE_ADDR = 0x20000;

/** Decodes one LZ4 block (no frame) into `out` from `op`; returns the new output position. */
export function lz4DecodeBlock(src: Uint8Array, start: number, end: number, out: Uint8Array, op: number): number {
  let ip = start;
  // A 4-bit length of 15 continues in the following bytes, each added, until one is below 255.
  const fullLength = (nibble: number): number => {
    let len = nibble;
    if (len === 15) {
      let b: number;
      do {
        b = src[ip++]!;
        len += b;
      } while (b === 255);
    }
    return len;
  };
  while (ip < end) {
    const token = src[ip++]!;
    const litLen = fullLength(token >> 4);
    if (op + litLen > out.length || ip + litLen > end)
      throw new TvctlError('LZ4', 'corrupt LZ4 data (literal run out of bounds)');
    out.set(src.subarray(ip, ip + litLen), op);
    ip += litLen;
    op += litLen;
    if (ip >= end) break; // the last sequence has literals only
    const offset = src[ip]! | (src[ip + 1]! << 8);
    ip += 2;
    if (offset === 0 || offset > op) throw new TvctlError('LZ4', 'corrupt LZ4 data (bad match offset)');
    const matchLen = fullLength(token & 15) + 4;
    if (op + matchLen > out.length) throw new TvctlError('LZ4', 'corrupt LZ4 data (match out of bounds)');
    let m = op - offset;
    if (offset >= matchLen) {
      out.copyWithin(op, m, m + matchLen);
      op += matchLen;
    } else {
      for (let i = 0; i < matchLen; i++) out[op++] = out[m++]!;
    }
  }
  return op;
}

/**
 * Decodes an LZ4 "legacy" frame (magic 02 21 4c 18, then blocks of [u32 size][data]) as the kernel build
 * writes it, followed by the kernel's appended u32 uncompressed size.
 */
export function lz4DecodeLegacy(src: Uint8Array): Uint8Array {
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  if (src.length < 8 || view.getUint32(0, true) !== LZ4_LEGACY_MAGIC) {
    throw new TvctlError('LZ4', 'not an LZ4 legacy frame (magic 02 21 4c 18 missing)');
  }
  const total = view.getUint32(src.length - 4, true);
  const out = new Uint8Array(total);
  let ip = 4;
  let op = 0;
  while (ip + 4 <= src.length - 4) {
    const size = view.getUint32(ip, true);
    if (size === LZ4_LEGACY_MAGIC) {
      ip += 4; // concatenated frames
      continue;
    }
    if (size === 0 || ip + 4 + size > src.length) break;
    op = lz4DecodeBlock(src, ip + 4, ip + 4 + size, out, op);
    ip += 4 + size;
  }
  if (op !== total) throw new TvctlError('LZ4', `LZ4 payload decoded to ${op} bytes, expected ${total}`);
  return out;
}

export interface ElfSegment {
  paddr: number;
  offset: number;
  filesz: number;
  memsz: number;
}

export interface VmlinuxElf {
  segments: ElfSegment[];
  /** The PVH 32-bit entry point (physical), from the Xen ELF note, if present. */
  pvhEntry?: number;
}

/** Parses an x86-64 ELF vmlinux: PT_LOAD segments and the PVH entry note. */
export function parseVmlinux(elf: Uint8Array): VmlinuxElf {
  const v = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  if (elf.length < 64 || v.getUint32(0, false) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) {
    throw new TvctlError('NOT_VMLINUX', 'the kernel payload is not a 64-bit little-endian ELF');
  }
  const phoff = Number(v.getBigUint64(0x20, true));
  const phentsize = v.getUint16(0x36, true);
  const phnum = v.getUint16(0x38, true);
  const segments: ElfSegment[] = [];
  let pvhEntry: number | undefined;
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize;
    const type = v.getUint32(p, true);
    const offset = Number(v.getBigUint64(p + 8, true));
    const paddr = Number(v.getBigUint64(p + 24, true));
    const filesz = Number(v.getBigUint64(p + 32, true));
    const memsz = Number(v.getBigUint64(p + 40, true));
    if (type === 1) segments.push({ paddr, offset, filesz, memsz });
    if (type === 4) {
      // Notes: namesz, descsz, type, name (4-aligned), desc (4-aligned).
      let n = offset;
      while (n + 12 <= offset + filesz) {
        const namesz = v.getUint32(n, true);
        const descsz = v.getUint32(n + 4, true);
        const ntype = v.getUint32(n + 8, true);
        const name = Buffer.from(elf.subarray(n + 12, n + 12 + namesz))
          .toString('latin1')
          .replace(/\0+$/, '');
        const desc = n + 12 + Math.ceil(namesz / 4) * 4;
        if (name === 'Xen' && ntype === XEN_ELFNOTE_PHYS32_ENTRY) {
          pvhEntry = descsz >= 8 ? Number(v.getBigUint64(desc, true)) : v.getUint32(desc, true);
        }
        n = desc + Math.ceil(descsz / 4) * 4;
      }
    }
  }
  if (segments.length === 0) throw new TvctlError('NOT_VMLINUX', 'the ELF kernel has no loadable segments');
  return pvhEntry !== undefined ? { segments, pvhEntry } : { segments };
}

/** The uncompressed vmlinux inside a bzImage (LZ4 only: what Debian's kernels use). */
export function extractVmlinux(bz: BzImage): Uint8Array {
  const { payloadOffset, payloadLength } = bz.header;
  const payload = bz.kernel.subarray(payloadOffset, payloadOffset + payloadLength);
  if (payload.length < 4 || payload[0] !== 0x02 || payload[1] !== 0x21 || payload[2] !== 0x4c || payload[3] !== 0x18) {
    throw new TvctlError('PVH_UNSUPPORTED', 'the bzImage payload is not LZ4-compressed; use the bzImage boot path');
  }
  return lz4DecodeLegacy(payload);
}

export interface PvhPlan {
  entry: number;
  startInfo: Uint8Array;
  memmap: Uint8Array;
  modlist: Uint8Array;
  cmdline: Uint8Array;
  initrdAddr: number;
  e820: E820Entry[];
  segments: ElfSegment[];
}

/** Plans a PVH boot of an ELF vmlinux: memory check, start info, memory map, initrd at the top. Pure. */
export function planPvhBoot(
  elf: VmlinuxElf,
  opts: { cmdline: string; memoryBytes: number; initrdSize?: number },
): PvhPlan {
  if (elf.pvhEntry === undefined)
    throw new TvctlError('PVH_UNSUPPORTED', 'the kernel has no PVH entry note (CONFIG_PVH)');
  const kernelEnd = Math.max(...elf.segments.map((s) => s.paddr + s.memsz));
  const initrdSize = opts.initrdSize ?? 0;
  const need = Math.ceil((kernelEnd + initrdSize + 16 * 1048576) / 1048576);
  if (opts.memoryBytes < need * 1048576) {
    throw new TvctlError(
      'VM_MEMORY_TOO_SMALL',
      `guest memory ${Math.floor(opts.memoryBytes / 1048576)} MiB is too small for this kernel: it needs at least ${need} MiB`,
    );
  }
  const e820 = buildE820(opts.memoryBytes);
  const lowEnd = Math.min(opts.memoryBytes, 0xc0000000);
  const initrdAddr = initrdSize > 0 ? Math.floor((Math.min(lowEnd, 0x38000000) - initrdSize) / 4096) * 4096 : 0;

  const startInfo = new Uint8Array(56);
  const s = new DataView(startInfo.buffer);
  s.setUint32(0, HVM_START_MAGIC, true);
  s.setUint32(4, 1, true); // version 1: has the memory map
  s.setUint32(12, initrdSize > 0 ? 1 : 0, true); // nr_modules
  s.setBigUint64(16, BigInt(initrdSize > 0 ? MODLIST_ADDR : 0), true);
  s.setBigUint64(24, BigInt(PVH_CMDLINE_ADDR), true);
  s.setBigUint64(32, 0n, true); // no ACPI RSDP
  s.setBigUint64(40, BigInt(MEMMAP_ADDR), true);
  s.setUint32(48, e820.length, true);

  const memmap = new Uint8Array(e820.length * 24);
  const mm = new DataView(memmap.buffer);
  e820.forEach((e, i) => {
    mm.setBigUint64(i * 24, BigInt(e.addr), true);
    mm.setBigUint64(i * 24 + 8, BigInt(e.size), true);
    mm.setUint32(i * 24 + 16, e.type, true);
  });
  const modlist = new Uint8Array(32);
  const ml = new DataView(modlist.buffer);
  ml.setBigUint64(0, BigInt(initrdAddr), true);
  ml.setBigUint64(8, BigInt(initrdSize), true);
  return {
    entry: elf.pvhEntry,
    startInfo,
    memmap,
    modlist,
    cmdline: new Uint8Array(Buffer.from(opts.cmdline + '\0', 'latin1')),
    initrdAddr,
    e820,
    segments: elf.segments,
  };
}

/** Loads the ELF segments and the PVH structures into the VM; vCPU 0 starts at the PVH entry in 32-bit mode. */
export function loadPvh(
  vm: KvmVm,
  elfBytes: Uint8Array,
  elf: VmlinuxElf,
  opts: { cmdline: string; initrd?: Uint8Array },
): PvhPlan {
  const plan = planPvhBoot(elf, {
    cmdline: opts.cmdline,
    memoryBytes: vm.memoryBytes,
    initrdSize: opts.initrd?.length ?? 0,
  });
  for (const seg of elf.segments) {
    vm.write(seg.paddr, elfBytes.subarray(seg.offset, seg.offset + seg.filesz));
    // memsz > filesz (bss) stays zero: guest RAM is fresh anonymous memory.
  }
  vm.write(START_INFO_ADDR, plan.startInfo);
  vm.write(MEMMAP_ADDR, plan.memmap);
  vm.write(MODLIST_ADDR, plan.modlist);
  vm.write(PVH_CMDLINE_ADDR, plan.cmdline);
  if (opts.initrd && opts.initrd.length > 0) vm.write(plan.initrdAddr, opts.initrd);
  const cpu = bootCpuState('protected32');
  for (const m of cpu.memory) vm.write(m.addr, m.bytes);
  vm.setSpecialRegisters(0, cpu.sregs);
  vm.setRegisters(0, { rip: plan.entry, rbx: START_INFO_ADDR, rflags: 2, rsp: 0, rsi: 0, rdi: 0, rbp: 0 });
  return plan;
}

/** bzImage bytes → what `loadPvh` needs (decompressing on the host). */
export function vmlinuxFromBzImage(image: Uint8Array, name?: string): { elfBytes: Uint8Array; elf: VmlinuxElf } {
  const elfBytes = extractVmlinux(parseBzImage(image, name));
  return { elfBytes, elf: parseVmlinux(elfBytes) };
}
