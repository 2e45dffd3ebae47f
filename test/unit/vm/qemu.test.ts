import { describe, expect, it } from 'vitest';
import { buildQemuArgv, qemuFailureLine } from '../../../src/vm/qemu.js';
import { KERNEL_CMDLINE_MAX, guestCmdline, hostTscKhz, tcgKernelParams } from '../../../src/vm/engine.js';
import { parseMemory } from '../../../src/vm/vm-run.js';

const spec = {
  binary: '/usr/bin/qemu-system-x86_64',
  accel: 'tcg' as const,
  kernel: '/k/vmlinux',
  initrd: '/i/x.cpio',
  cmdline: 'console=ttyS0 quiet -- abc',
  memoryMiB: 256,
  cpus: 2,
  consoleFd: 3,
  stdoutFd: 4,
  stderrFd: 5,
};

function valueAfter(argv: string[], flag: string): string[] {
  return argv.flatMap((a, i) => (a === flag ? [argv[i + 1]!] : []));
}

describe('buildQemuArgv', () => {
  it('builds a microvm with tcg, no defaults, no reboot and the kernel, initrd and command line as given', () => {
    const argv = buildQemuArgv(spec);
    expect(valueAfter(argv, '-M')).toEqual(['microvm,isa-serial=off,x-option-roms=off']);
    expect(valueAfter(argv, '-accel')).toEqual(['tcg']);
    expect(argv).toContain('-nodefaults');
    expect(argv).toContain('-no-reboot');
    expect(argv).toContain('-nographic');
    expect(argv).not.toContain('-cpu');
    expect(valueAfter(argv, '-m')).toEqual(['256M']);
    expect(valueAfter(argv, '-smp')).toEqual(['2']);
    expect(valueAfter(argv, '-kernel')).toEqual(['/k/vmlinux']);
    expect(valueAfter(argv, '-initrd')).toEqual(['/i/x.cpio']);
    expect(valueAfter(argv, '-append')).toEqual(['console=ttyS0 quiet -- abc']);
  });

  it('wires console, stdout and stderr to three UARTs on the legacy ports, each on its own inherited fd', () => {
    const argv = buildQemuArgv(spec);
    expect(valueAfter(argv, '-chardev')).toEqual(['socket,id=con,fd=3', 'socket,id=out,fd=4', 'socket,id=err,fd=5']);
    expect(valueAfter(argv, '-device')).toEqual([
      'isa-serial,chardev=con,iobase=0x3f8,irq=4',
      'isa-serial,chardev=out,iobase=0x2f8,irq=3',
      'isa-serial,chardev=err,iobase=0x3e8,irq=5',
    ]);
  });

  it('uses the host CPU model with kvm', () => {
    const argv = buildQemuArgv({ ...spec, accel: 'kvm' });
    expect(valueAfter(argv, '-accel')).toEqual(['kvm']);
    expect(valueAfter(argv, '-cpu')).toEqual(['host']);
  });

  it('refuses a multi-line kernel command line', () => {
    expect(() => buildQemuArgv({ ...spec, cmdline: 'a\nb' })).toThrow(/one line/);
  });
});

describe('guest kernel command line', () => {
  it('is quiet by default, verbose with debug, passes the config after "--" and enforces the kernel limit', () => {
    expect(guestCmdline('CFG', false)).toBe(
      'console=ttyS0 quiet loglevel=0 panic=-1 cryptomgr.notests rdinit=/.tvctl-init -- CFG',
    );
    expect(guestCmdline('CFG', true, ['x=1'])).toBe(
      'console=ttyS0 loglevel=7 x=1 panic=-1 cryptomgr.notests rdinit=/.tvctl-init -- CFG',
    );
    expect(() => guestCmdline('x'.repeat(KERNEL_CMDLINE_MAX), false)).toThrow(/kernel command line/);
  });

  it('tells a TCG guest the TSC rate from the host, and nothing under kvm', () => {
    expect(hostTscKhz('processor\t: 0\ncpu MHz\t\t: 2600.000\n')).toBe(2_600_000);
    expect(tcgKernelParams('tcg', 'cpu MHz : 2999.5\n')).toEqual(['tsc_early_khz=2999500', 'tsc=reliable']);
    expect(tcgKernelParams('kvm', 'cpu MHz : 2999.5\n')).toEqual([]);
    expect(tcgKernelParams('tcg', 'no rate here')).toEqual([]);
  });
});

describe('options', () => {
  it('parses memory sizes', () => {
    expect(parseMemory('256m')).toBe(256);
    expect(parseMemory('1g')).toBe(1024);
    expect(parseMemory('512')).toBe(512);
    expect(() => parseMemory('12m')).toThrow(/too small/);
    expect(() => parseMemory('lots')).toThrow(/invalid/);
  });

  it('picks the line that explains a QEMU failure', () => {
    expect(qemuFailureLine('qemu: warning: x\nKVM internal error. Suberror: 1\nextra data')).toBe(
      'KVM internal error. Suberror: 1',
    );
  });
});

describe('image user → numeric uid:gid from the image', () => {
  it('looks names up in the topmost layer that has /etc/passwd and /etc/group', async () => {
    const { mkdtempSync, mkdirSync, writeFileSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const { resolveUser } = await import('../../../src/vm/vm-run.js');
    const base = mkdtempSync(join(tmpdir(), 'tvctl-user-'));
    try {
      const l1 = join(base, 'l1');
      const l2 = join(base, 'l2');
      mkdirSync(join(l1, 'etc'), { recursive: true });
      mkdirSync(join(l2, 'etc'), { recursive: true });
      writeFileSync(join(l1, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\nold:x:5:5::/:/bin/sh\n');
      writeFileSync(join(l2, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\nweb:x:1000:1001::/:/bin/sh\n');
      writeFileSync(join(l1, 'etc/group'), 'root:x:0:\nstaff:x:50:\n');
      expect(await resolveUser('web', [l1, l2])).toBe('1000:1001');
      expect(await resolveUser('web:staff', [l1, l2])).toBe('1000:50');
      expect(await resolveUser('7', [l1, l2])).toBe('7');
      expect(await resolveUser('7:8', [l1, l2])).toBe('7:8');
      await expect(resolveUser('old', [l1, l2])).rejects.toThrow(/unable to find user old/);
      await expect(resolveUser('web:nogroup', [l1, l2])).rejects.toThrow(/unable to find group nogroup/);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});
