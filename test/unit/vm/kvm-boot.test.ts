import { describe, expect, it } from 'vitest';
import {
  buildE820,
  CMDLINE_ADDR,
  E820_RAM,
  E820_RESERVED,
  formatE820Line,
  KERNEL_ADDR,
  parseBzImage,
  planLinuxBoot,
} from '../../../src/vm/bzimage.js';
import { TvctlError } from '../../../src/errors.js';
import {
  bootCpuState,
  buildIdentityPageTables,
  gdtEntry,
  PD_ADDR,
  PDPT_ADDR,
  PML4_ADDR,
  segmentFromEntry,
} from '../../../src/vm/x86-cpu.js';

/** A synthetic bzImage: 4 setup sectors + `kernelBytes` of "protected-mode kernel". */
function fakeBzImage(
  o: {
    version?: number;
    loadflags?: number;
    xloadflags?: number;
    initSize?: number;
    kernelBytes?: number;
    cmdlineSize?: number;
  } = {},
): Uint8Array {
  const setup = 5 * 512;
  const img = new Uint8Array(setup + (o.kernelBytes ?? 4096));
  const v = new DataView(img.buffer);
  v.setUint8(0x1f1, 4);
  v.setUint16(0x1fe, 0xaa55, true);
  v.setUint8(0x200, 0xeb);
  v.setUint8(0x201, 0x6a); // header ends at 0x26c
  img.set(Buffer.from('HdrS'), 0x202);
  v.setUint16(0x206, o.version ?? 0x020f, true);
  v.setUint16(0x20e, 0x300 - 0x200, true); // kernel_version string at 0x300
  img.set(Buffer.from('6.1.0-test (builder) #1\0'), 0x300);
  v.setUint8(0x211, o.loadflags ?? 0x01);
  v.setUint32(0x22c, 0x7fffffff, true);
  v.setUint32(0x230, 0x200000, true);
  v.setUint8(0x234, 1);
  v.setUint16(0x236, o.xloadflags ?? 0x7f, true);
  v.setUint32(0x238, o.cmdlineSize ?? 2047, true);
  v.setBigUint64(0x258, 0x1000000n, true);
  v.setUint32(0x260, o.initSize ?? 0x800000, true);
  img.fill(0xcc, setup); // kernel bytes
  return img;
}

describe('parseBzImage', () => {
  it('reads the setup header and splits setup from the protected-mode kernel', () => {
    const bz = parseBzImage(fakeBzImage());
    expect(bz.header.version).toBe(0x020f);
    expect(bz.header.setupSects).toBe(4);
    expect(bz.header.cmdlineSize).toBe(2047);
    expect(bz.header.initSize).toBe(0x800000);
    expect(bz.header.headerEnd).toBe(0x26c);
    expect(bz.setup.length).toBe(5 * 512);
    expect(bz.kernel.length).toBe(4096);
    expect(bz.kernel[0]).toBe(0xcc);
    expect(bz.versionString).toBe('6.1.0-test (builder) #1');
  });

  it('rejects what is not a bzImage, old protocols and zImages with clear messages', () => {
    expect(() => parseBzImage(new Uint8Array(100), 'x')).toThrow(/x is not a Linux bzImage/);
    const elf = new Uint8Array(8192);
    elf.set([0x7f, 0x45, 0x4c, 0x46]);
    expect(() => parseBzImage(elf, 'vmlinux')).toThrow(/not a Linux bzImage \(no "HdrS"/);
    expect(() => parseBzImage(fakeBzImage({ version: 0x0204 }))).toThrow(/boot protocol 2.04; at least 2.06/);
    expect(() => parseBzImage(fakeBzImage({ loadflags: 0 }))).toThrow(/zImage/);
    try {
      parseBzImage(new Uint8Array(10));
    } catch (e) {
      expect(e).toBeInstanceOf(TvctlError);
      expect((e as TvctlError).code).toBe('NOT_BZIMAGE');
    }
  });
});

describe('e820', () => {
  it('maps low RAM, the EBDA and BIOS holes and RAM from 1 MiB', () => {
    const m = buildE820(128 << 20);
    expect(m).toEqual([
      { addr: 0, size: 0x9fc00, type: E820_RAM },
      { addr: 0x9fc00, size: 0x400, type: E820_RESERVED },
      { addr: 0xf0000, size: 0x10000, type: E820_RESERVED },
      { addr: 0x100000, size: (128 << 20) - 0x100000, type: E820_RAM },
    ]);
    expect(formatE820Line(m[3]!)).toBe('BIOS-e820: [mem 0x0000000000100000-0x0000000007ffffff] usable');
    expect(formatE820Line(m[1]!)).toBe('BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff] reserved');
  });
  it('moves RAM above 3 GiB to 4 GiB', () => {
    const m = buildE820(4 * 1024 * 1024 * 1024);
    expect(m[3]).toEqual({ addr: 0x100000, size: 0xc0000000 - 0x100000, type: E820_RAM });
    expect(m[4]).toEqual({ addr: 0x100000000, size: 0x40000000, type: E820_RAM });
  });
});

describe('planLinuxBoot', () => {
  const bz = parseBzImage(fakeBzImage());
  it('builds the zero page: header copy, loader type, cmdline, e820, initrd at the top', () => {
    const initrd = new Uint8Array(3 * 4096 + 5);
    const plan = planLinuxBoot(bz, { cmdline: 'console=ttyS0 x=1', initrd, memoryBytes: 64 << 20 });
    const v = new DataView(plan.zeroPage.buffer);
    expect(String.fromCharCode(...plan.zeroPage.subarray(0x202, 0x206))).toBe('HdrS');
    expect(v.getUint16(0x206, true)).toBe(0x020f);
    expect(v.getUint8(0x210)).toBe(0xff);
    expect(v.getUint8(0x211) & 0x01).toBe(1);
    expect(v.getUint32(0x228, true)).toBe(CMDLINE_ADDR);
    expect(Buffer.from(plan.cmdline).toString()).toBe('console=ttyS0 x=1\0');
    expect(v.getUint8(0x1e8)).toBe(4);
    expect(v.getBigUint64(0x2d0 + 3 * 20, true)).toBe(0x100000n);
    expect(v.getBigUint64(0x2d0 + 3 * 20 + 8, true)).toBe(BigInt((64 << 20) - 0x100000));
    expect(v.getUint32(0x2d0 + 3 * 20 + 16, true)).toBe(E820_RAM);
    expect(v.getUint32(0x21c, true)).toBe(initrd.length);
    const initrdAddr = v.getUint32(0x218, true);
    expect(initrdAddr).toBe(plan.initrdAddr);
    expect(initrdAddr % 4096).toBe(0);
    expect(initrdAddr + initrd.length).toBeLessThanOrEqual(64 << 20);
    expect(initrdAddr).toBeGreaterThan((64 << 20) - 5 * 4096);
    expect(plan.entry).toBe('long64');
    expect(plan.entryAddr).toBe(KERNEL_ADDR + 0x200);
  });
  it('uses the 32-bit entry when asked or when the kernel has no 64-bit entry', () => {
    expect(planLinuxBoot(bz, { cmdline: '', memoryBytes: 64 << 20, entry: 'protected32' }).entryAddr).toBe(KERNEL_ADDR);
    const old = parseBzImage(fakeBzImage({ xloadflags: 0 }));
    expect(planLinuxBoot(old, { cmdline: '', memoryBytes: 64 << 20 }).entry).toBe('protected32');
  });
  it('refuses too little memory and too long command lines', () => {
    expect(() => planLinuxBoot(bz, { cmdline: '', memoryBytes: 8 << 20 })).toThrow(
      /8 MiB is too small .* at least 13 MiB/,
    );
    expect(() =>
      planLinuxBoot(parseBzImage(fakeBzImage({ cmdlineSize: 10 })), { cmdline: 'a'.repeat(11), memoryBytes: 64 << 20 }),
    ).toThrow(/at most 10/);
  });
});

describe('x86 start-up state', () => {
  it('encodes GDT entries as the CPU reads them', () => {
    expect(gdtEntry(0xa09b, 0, 0xfffff)).toBe(0x00af9b000000ffffn);
    expect(gdtEntry(0xc093, 0, 0xfffff)).toBe(0x00cf93000000ffffn);
    const s = segmentFromEntry(0x10, 0x00af9b000000ffffn);
    expect(s).toMatchObject({
      base: 0,
      limit: 0xffffffff,
      selector: 0x10,
      type: 0xb,
      present: 1,
      s: 1,
      l: 1,
      db: 0,
      g: 1,
    });
  });
  it('identity-maps 4 GiB with 2 MiB pages', () => {
    const pt = buildIdentityPageTables();
    const v = new DataView(pt.bytes.buffer);
    expect(pt.addr).toBe(PML4_ADDR);
    expect(v.getBigUint64(0, true)).toBe(BigInt(PDPT_ADDR) | 3n);
    expect(v.getBigUint64(PDPT_ADDR - PML4_ADDR + 3 * 8, true)).toBe(BigInt(PD_ADDR + 3 * 4096) | 3n);
    // The last 2 MiB page below 4 GiB.
    expect(v.getBigUint64(PD_ADDR - PML4_ADDR + 2047 * 8, true)).toBe((2047n << 21n) | 0x83n);
  });
  it('enters long mode with paging, PAE, LME/LMA and the boot selectors', () => {
    const s = bootCpuState('long64');
    expect(s.sregs.cr0).toBe(0x80000011n);
    expect(s.sregs.cr4).toBe(0x20n);
    expect(s.sregs.efer).toBe(0x500n);
    expect(s.sregs.cs?.selector).toBe(0x10);
    expect(s.sregs.ds?.selector).toBe(0x18);
    expect(bootCpuState('protected32').sregs.cr0).toBe(0x11n);
  });
});
