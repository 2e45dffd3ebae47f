/**
 * Pure x86 start-up state for KVM guests: GDT entries, identity-mapped page tables and the register state for
 * real mode, 32-bit protected mode (the Linux boot protocol's 32-bit entry) and 64-bit long mode. The bytes
 * are written into guest RAM by the caller; the register objects go to `KvmVm.setSpecialRegisters`.
 */
import type { Segment, SpecialRegistersUpdate } from './kvm.js';

/** Guest-physical layout of the start-up structures (all below the 640 KiB line, away from the zero page). */
export const GDT_ADDR = 0x500;
export const IDT_ADDR = 0x600;
export const PML4_ADDR = 0x9000;
export const PDPT_ADDR = 0xa000;
/** Four page directories (2 MiB pages) identity-map the first 4 GiB. */
export const PD_ADDR = 0xb000;
export const IDENTITY_MAPPED_BYTES = 4 * 1024 * 1024 * 1024;

/** Selectors of the boot GDT, as the Linux boot protocol wants them (__BOOT_CS = 0x10, __BOOT_DS = 0x18). */
export const BOOT_CS = 0x10;
export const BOOT_DS = 0x18;
export const BOOT_TSS = 0x20;

const CR0_PE = 1n;
const CR0_ET = 0x10n;
const CR0_PG = 0x80000000n;
const CR4_PAE = 0x20n;
const EFER_LME = 0x100n;
const EFER_LMA = 0x400n;

/** Packs a segment descriptor: `flags` is the access byte in bits 0-7 and G/DB/L/AVL in bits 12-15. */
export function gdtEntry(flags: number, base: number, limit: number): bigint {
  const b = BigInt(base);
  const l = BigInt(limit);
  const f = BigInt(flags);
  return (
    ((b & 0xff000000n) << 32n) |
    ((f & 0xf0ffn) << 40n) |
    ((l & 0xf0000n) << 32n) |
    ((b & 0x00ffffffn) << 16n) |
    (l & 0xffffn)
  );
}

/** Decodes a descriptor into KVM's segment form (the hidden part of the segment register). */
export function segmentFromEntry(selector: number, entry: bigint): Segment {
  const base = Number(((entry >> 16n) & 0xffffffn) | (((entry >> 56n) & 0xffn) << 24n));
  const rawLimit = Number((entry & 0xffffn) | (((entry >> 48n) & 0xfn) << 16n));
  const g = Number((entry >> 55n) & 1n);
  return {
    base,
    limit: g ? rawLimit * 4096 + 0xfff : rawLimit,
    selector,
    type: Number((entry >> 40n) & 0xfn),
    present: Number((entry >> 47n) & 1n),
    dpl: Number((entry >> 45n) & 3n),
    db: Number((entry >> 54n) & 1n),
    s: Number((entry >> 44n) & 1n),
    l: Number((entry >> 53n) & 1n),
    g,
    avl: 0,
    unusable: 0,
  };
}

export type CpuMode = 'protected32' | 'long64';

/** The boot GDT: null, null, code (0x10), data (0x18), TSS (0x20). */
export function bootGdtEntries(mode: CpuMode): bigint[] {
  const code = mode === 'long64' ? 0xa09b : 0xc09b; // long mode: L=1, D=0; 32-bit: D=1. Both G=1, P, exec/read.
  return [0n, 0n, gdtEntry(code, 0, 0xfffff), gdtEntry(0xc093, 0, 0xfffff), gdtEntry(0x808b, 0, 0xfffff)];
}

export function encodeGdt(entries: bigint[]): Uint8Array {
  const out = new Uint8Array(entries.length * 8);
  const view = new DataView(out.buffer);
  entries.forEach((e, i) => view.setBigUint64(i * 8, e, true));
  return out;
}

/** Page tables identity-mapping the first 4 GiB with 2 MiB pages: one PML4, one PDPT, four PDs (24 KiB). */
export function buildIdentityPageTables(): { addr: number; bytes: Uint8Array } {
  const bytes = new Uint8Array(PD_ADDR + 4 * 4096 - PML4_ADDR);
  const view = new DataView(bytes.buffer);
  const PRESENT_RW = 0x3n;
  const PAGE_2M = 0x80n;
  view.setBigUint64(0, BigInt(PDPT_ADDR) | PRESENT_RW, true);
  for (let i = 0; i < 4; i++) {
    view.setBigUint64(PDPT_ADDR - PML4_ADDR + i * 8, BigInt(PD_ADDR + i * 4096) | PRESENT_RW, true);
  }
  for (let i = 0; i < 4 * 512; i++) {
    view.setBigUint64(PD_ADDR - PML4_ADDR + i * 8, (BigInt(i) << 21n) | PRESENT_RW | PAGE_2M, true);
  }
  return { addr: PML4_ADDR, bytes };
}

/** Everything a guest needs in RAM for `mode`, plus the special registers that enter it. */
export function bootCpuState(mode: CpuMode): {
  memory: { addr: number; bytes: Uint8Array }[];
  sregs: SpecialRegistersUpdate;
} {
  const entries = bootGdtEntries(mode);
  const gdt = encodeGdt(entries);
  const code = segmentFromEntry(BOOT_CS, entries[2]!);
  const data = segmentFromEntry(BOOT_DS, entries[3]!);
  const tss = segmentFromEntry(BOOT_TSS, entries[4]!);
  const memory = [
    { addr: GDT_ADDR, bytes: gdt },
    { addr: IDT_ADDR, bytes: new Uint8Array(8) },
  ];
  const sregs: SpecialRegistersUpdate = {
    cs: code,
    ds: data,
    es: data,
    fs: data,
    gs: data,
    ss: data,
    tr: tss,
    gdt: { base: GDT_ADDR, limit: gdt.length - 1 },
    idt: { base: IDT_ADDR, limit: 0 },
    cr0: CR0_PE | CR0_ET,
    cr4: 0n,
    efer: 0n,
  };
  if (mode === 'long64') {
    const pt = buildIdentityPageTables();
    memory.push(pt);
    sregs.cr3 = BigInt(pt.addr);
    sregs.cr4 = CR4_PAE;
    sregs.cr0 = CR0_PE | CR0_ET | CR0_PG;
    sregs.efer = EFER_LME | EFER_LMA;
  }
  return { memory, sregs };
}

/** Real mode with CS:IP = 0:`ip` (flat 64 KiB segments at base 0). */
export function realModeState(): SpecialRegistersUpdate {
  const seg = (type: number): Segment => ({
    base: 0,
    limit: 0xffff,
    selector: 0,
    type,
    present: 1,
    dpl: 0,
    db: 0,
    s: 1,
    l: 0,
    g: 0,
    avl: 0,
    unusable: 0,
  });
  return {
    cs: seg(0xb),
    ds: seg(0x3),
    es: seg(0x3),
    fs: seg(0x3),
    gs: seg(0x3),
    ss: seg(0x3),
    cr0: CR0_ET,
    cr4: 0n,
    efer: 0n,
  };
}
