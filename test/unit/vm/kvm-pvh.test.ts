import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { findOnPath } from '../../../src/vm/probe.js';
import {
  lz4DecodeBlock,
  lz4DecodeLegacy,
  parseVmlinux,
  planPvhBoot,
  START_INFO_ADDR,
  MEMMAP_ADDR,
  PVH_CMDLINE_ADDR,
} from '../../../src/vm/pvh.js';

describe('LZ4', () => {
  it('decodes literals, overlapping matches and long lengths', () => {
    // token 0x4f: 4 literals "abcd", match length 15+ext; ext byte 3 → 15+3+4 = 22, offset 4 (overlapping)
    const block = new Uint8Array([0x4f, 0x61, 0x62, 0x63, 0x64, 0x04, 0x00, 0x03, 0x10, 0x5a]);
    const out = new Uint8Array(4 + 22 + 1);
    const n = lz4DecodeBlock(block, 0, block.length, out, 0);
    expect(n).toBe(27);
    expect(Buffer.from(out).toString()).toBe('abcd' + 'abcdabcdabcdabcdabcdab' + 'Z');
  });
  it("decodes a legacy frame with the kernel's trailing size and rejects garbage", () => {
    const block = [0x40, 0x77, 0x78, 0x79, 0x7a]; // 4 literals only: "wxyz"
    const frame = new Uint8Array([0x02, 0x21, 0x4c, 0x18, block.length, 0, 0, 0, ...block, 4, 0, 0, 0]);
    expect(Buffer.from(lz4DecodeLegacy(frame)).toString()).toBe('wxyz');
    expect(() => lz4DecodeLegacy(new Uint8Array(16))).toThrow(/not an LZ4 legacy frame/);
    const bad = new Uint8Array([0x02, 0x21, 0x4c, 0x18, 3, 0, 0, 0, 0x00, 0x09, 0x00, 8, 0, 0, 0]);
    expect(() => lz4DecodeLegacy(bad)).toThrow(/corrupt LZ4|expected/);
  });
  it.skipIf(!findOnPath('lz4'))(
    "decodes what lz4 -l writes (the kernel build's format): long literal runs and long matches (needs lz4)",
    () => {
      // random runs (literal lengths continued over several bytes) between long repeats (long matches)
      const parts: Buffer[] = [];
      for (let i = 0; i < 40; i++) parts.push(randomBytes(300 + i * 37), Buffer.alloc(1000 + i * 101, i));
      const input = Buffer.concat(parts);
      const size = Buffer.alloc(4);
      size.writeUInt32LE(input.length); // the kernel build appends it; lz4 does not
      const frame = Buffer.concat([execFileSync('lz4', ['-l', '-c'], { input }), size]);
      expect(Buffer.from(lz4DecodeLegacy(new Uint8Array(frame))).equals(input)).toBe(true);
    },
  );
});

/** A minimal ELF64 with one PT_LOAD and a Xen PHYS32_ENTRY note. */
function fakeElf(entry: number): Uint8Array {
  const elf = new Uint8Array(0x200);
  const v = new DataView(elf.buffer);
  elf.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  v.setBigUint64(0x20, 0x40n, true); // phoff
  v.setUint16(0x36, 56, true);
  v.setUint16(0x38, 2, true);
  // PT_LOAD: offset 0x100, paddr 16 MiB, 0x40 bytes, memsz 0x1000
  v.setUint32(0x40, 1, true);
  v.setBigUint64(0x48, 0x100n, true);
  v.setBigUint64(0x58, 0x1000000n, true);
  v.setBigUint64(0x60, 0x40n, true);
  v.setBigUint64(0x68, 0x1000n, true);
  // PT_NOTE at 0x180: namesz 4 ("Xen\0"), descsz 4, type 18
  v.setUint32(0x40 + 56, 4, true);
  v.setBigUint64(0x40 + 56 + 8, 0x180n, true);
  v.setBigUint64(0x40 + 56 + 32, 20n, true);
  v.setUint32(0x180, 4, true);
  v.setUint32(0x184, 4, true);
  v.setUint32(0x188, 18, true);
  elf.set(Buffer.from('Xen\0'), 0x18c);
  v.setUint32(0x190, entry, true);
  return elf;
}

describe('vmlinux ELF + PVH start info', () => {
  it('finds the loadable segments and the PVH entry note', () => {
    const elf = parseVmlinux(fakeElf(0x1000850));
    expect(elf.segments).toEqual([{ paddr: 0x1000000, offset: 0x100, filesz: 0x40, memsz: 0x1000 }]);
    expect(elf.pvhEntry).toBe(0x1000850);
    expect(() => parseVmlinux(new Uint8Array(100))).toThrow(/not a 64-bit little-endian ELF/);
  });
  it('builds hvm_start_info (magic, version 1, cmdline, memory map) and checks memory', () => {
    const elf = parseVmlinux(fakeElf(0x1000850));
    const plan = planPvhBoot(elf, { cmdline: 'console=ttyS0', memoryBytes: 64 << 20, initrdSize: 8192 });
    const s = new DataView(plan.startInfo.buffer);
    expect(s.getUint32(0, true)).toBe(0x336ec578);
    expect(s.getUint32(4, true)).toBe(1);
    expect(s.getUint32(12, true)).toBe(1); // the initrd as module 0
    expect(s.getBigUint64(24, true)).toBe(BigInt(PVH_CMDLINE_ADDR));
    expect(s.getBigUint64(40, true)).toBe(BigInt(MEMMAP_ADDR));
    expect(s.getUint32(48, true)).toBe(4);
    const mm = new DataView(plan.memmap.buffer);
    expect(mm.getBigUint64(3 * 24, true)).toBe(0x100000n);
    expect(mm.getBigUint64(3 * 24 + 8, true)).toBe(BigInt((64 << 20) - 0x100000));
    expect(plan.initrdAddr + 8192).toBeLessThanOrEqual(64 << 20);
    expect(plan.entry).toBe(0x1000850);
    expect(START_INFO_ADDR).toBeLessThan(0x7000);
    expect(() => planPvhBoot(elf, { cmdline: '', memoryBytes: 16 << 20 })).toThrow(/too small .* at least 33 MiB/);
  });
});
