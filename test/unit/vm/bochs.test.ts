import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
  chmodSync,
  readdirSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BOCHS_KERNEL_PARAMS,
  ISOLINUX_CFG_HEAD,
  ISOLINUX_CMDLINE_OVERHEAD,
  ISOLINUX_SLOT_BYTES,
  bochsStopLine,
  buildBochsArgv,
  buildBochsrc,
  buildIsolinuxCfg,
  buildXorrisoArgv,
  findBochs,
  isSoftPowerOff,
  isolinuxSlot,
  wrapBochs,
} from '../../../src/vm/bochs.js';
import { findSlot, isoCacheKey, placeholderCmdline, pruneIsoCache, writeRunIso } from '../../../src/vm/bochs-iso.js';
import { BochsEngine, runDirPid, sweepStaleRunDirs } from '../../../src/vm/bochs-engine.js';
import { guestCmdline, KERNEL_CMDLINE_MAX } from '../../../src/vm/engine.js';
import { bochsEngineUse, explainHost } from '../../../src/host/facts.js';
import { DEFAULT_MODES, parseEngines, planModes } from '../../../src/compare/modes.js';
import { deriveIsolation } from '../../../src/compare/isolation.js';
import { HOST } from '../compare/fixture.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'tvctl-bochs-test-'));
  dirs.push(d);
  return d;
}

const rcSpec = {
  bios: '/usr/share/bochs/BIOS-bochs-latest',
  vgaBios: '/usr/share/bochs/VGABIOS-lgpl-latest',
  iso: '/tmp/run/boot.iso',
  memoryMiB: 256,
  serial: ['/tmp/run/com1', '/tmp/run/com2', '/tmp/run/com3'] as const,
  log: '/tmp/run/bochs.log',
};

/** bochsrc "key: value" lines as a map (one line per key in what the builder writes). */
function rcLines(rc: string): Map<string, string> {
  return new Map(
    rc
      .split('\n')
      .filter(Boolean)
      .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()] as [string, string]),
  );
}

describe('buildBochsrc', () => {
  it('boots the CD headless, one CPU, the memory asked for, and ends on a triple fault or panic', () => {
    const rc = rcLines(buildBochsrc(rcSpec));
    expect(rc.get('memory')).toBe('guest=256, host=256');
    expect(rc.get('romimage')).toBe('file=/usr/share/bochs/BIOS-bochs-latest');
    expect(rc.get('vgaromimage')).toBe('file=/usr/share/bochs/VGABIOS-lgpl-latest');
    expect(rc.get('ata0-master')).toBe('type=cdrom, path=/tmp/run/boot.iso, status=inserted');
    expect(rc.get('boot')).toBe('cdrom');
    expect(rc.get('display_library')).toBe('rfb, options="timeout=0"');
    expect(rc.get('cpu')).toMatch(/^count=1, ips=\d+, reset_on_triple_fault=0$/);
    expect(rc.get('panic')).toBe('action=fatal');
    expect(rc.get('log')).toBe('/tmp/run/bochs.log');
  });
  it('puts console, stdout and stderr on COM1-3 (ttyS0-2), each written to its own file', () => {
    const rc = rcLines(buildBochsrc(rcSpec));
    expect(rc.get('com1')).toBe('enabled=1, mode=file, dev=/tmp/run/com1');
    expect(rc.get('com2')).toBe('enabled=1, mode=file, dev=/tmp/run/com2');
    expect(rc.get('com3')).toBe('enabled=1, mode=file, dev=/tmp/run/com3');
  });
  it('turns off what only makes noise or costs time (sound, parallel port, mouse)', () => {
    const rc = rcLines(buildBochsrc(rcSpec));
    expect(rc.get('speaker')).toBe('enabled=0');
    expect(rc.get('parport1')).toBe('enabled=0');
    expect(rc.get('mouse')).toBe('enabled=0');
  });
  it('refuses a path Bochs would split or cut, and a memory size too small', () => {
    expect(() => buildBochsrc({ ...rcSpec, iso: '/tmp/a,b.iso' })).toThrow(/cannot be written into a bochsrc/);
    expect(() => buildBochsrc({ ...rcSpec, log: '/tmp/x#y' })).toThrow(/bochsrc/);
    expect(() => buildBochsrc({ ...rcSpec, memoryMiB: 8 })).toThrow(/at least 16 MiB/);
  });
});

describe('Bochs command line', () => {
  it('runs quietly with the config and the debugger rc; wrappers exec each other in order', () => {
    const cmd = buildBochsArgv('/usr/bin/bochs-bin', '/r/bochsrc', '/r/dbg.rc');
    expect(cmd).toEqual({ file: '/usr/bin/bochs-bin', args: ['-q', '-f', '/r/bochsrc', '-rc', '/r/dbg.rc'] });
    expect(wrapBochs(cmd, {})).toEqual(cmd);
    expect(wrapBochs(cmd, { unshare: '/usr/bin/unshare', setpriv: '/usr/bin/setpriv' })).toEqual({
      file: '/usr/bin/unshare',
      args: [
        '--net',
        '--',
        '/usr/bin/setpriv',
        '--pdeathsig',
        'KILL',
        '--',
        '/usr/bin/bochs-bin',
        '-q',
        '-f',
        '/r/bochsrc',
        '-rc',
        '/r/dbg.rc',
      ],
    });
  });
});

describe('kernel command line for Bochs', () => {
  it('adds the boot-time cuts after the common part, before the guest config', () => {
    const line = guestCmdline('CFG', false, BOCHS_KERNEL_PARAMS);
    expect(line.startsWith('console=ttyS0 quiet loglevel=0 mitigations=off nokaslr tsc=reliable reboot=t ')).toBe(true);
    expect(line).toMatch(/ initcall_blacklist=trace_eval_init,init_kprobe_trace,[a-z0-9_,]+ panic=-1 /);
    expect(line.endsWith('rdinit=/.tvctl-init -- CFG')).toBe(true);
    const blacklist = BOCHS_KERNEL_PARAMS.find((p) => p.startsWith('initcall_blacklist='))!;
    expect(blacklist).toContain('load_system_certificate_list');
    // isolinux's additions must still fit the kernel's limit with a command line the common check accepts
    expect(ISOLINUX_CMDLINE_OVERHEAD).toBe(35);
    expect(ISOLINUX_SLOT_BYTES).toBeGreaterThan(KERNEL_CMDLINE_MAX + '  APPEND \n'.length);
  });
});

describe('BochsEngine.run refuses before it starts anything', () => {
  const engine = new BochsEngine(
    { binary: '/nope/bochs', bios: '/b', vgaBios: '/v', isolinuxBin: '/i', ldlinux: '/l', xorriso: '/x' },
    'test',
    '/nonexistent-data-root',
    {},
  );
  const spec = { kernel: '/k', initrd: '/i', memoryMiB: 256, cpus: 1, nonce: 'abc' };
  const io = { onStdout: () => undefined, onStderr: () => undefined };
  it('a command line that fits the kernel but not with what isolinux adds', async () => {
    const fits = 'x'.repeat(KERNEL_CMDLINE_MAX - 1 - ISOLINUX_CMDLINE_OVERHEAD);
    await expect(engine.run({ ...spec, cmdline: fits + 'y' }, io)).rejects.toThrow(/isolinux leaves 2012; shorten/);
    // the longest that fits passes the check and fails only on the missing kernel file
    await expect(engine.run({ ...spec, cmdline: fits }, io)).rejects.toThrow(/kernel \/k/);
  });
  it('more than one vCPU', async () => {
    await expect(engine.run({ ...spec, cpus: 2, cmdline: 'x' }, io)).rejects.toThrow(/runs one vCPU/);
  });
});

describe('isolinux.cfg', () => {
  it('boots /vmlinuz with /initrd at once, the APPEND line padded to a fixed-size slot', () => {
    const cfg = buildIsolinuxCfg('console=ttyS0 -- abc').toString('latin1');
    expect(cfg.startsWith(ISOLINUX_CFG_HEAD)).toBe(true);
    expect(cfg).toMatch(
      /^DEFAULT tvctl\nPROMPT 0\nTIMEOUT 0\nLABEL tvctl\n {2}KERNEL \/vmlinuz\n {2}INITRD \/initrd\n/,
    );
    const slot = cfg.slice(ISOLINUX_CFG_HEAD.length);
    expect(slot.length).toBe(ISOLINUX_SLOT_BYTES);
    const [append, pad, rest] = slot.split('\n');
    expect(append).toBe('  APPEND console=ttyS0 -- abc');
    expect(pad).toMatch(/^# *$/);
    expect(rest).toBe('');
  });
  it('every command line gives a slot of the same size, up to the longest the kernel takes', () => {
    for (const n of [0, 1, 100, KERNEL_CMDLINE_MAX - 1, ISOLINUX_SLOT_BYTES - 11, ISOLINUX_SLOT_BYTES - 10]) {
      expect(isolinuxSlot('x'.repeat(n)).length).toBe(ISOLINUX_SLOT_BYTES);
    }
    expect(() => isolinuxSlot('x'.repeat(ISOLINUX_SLOT_BYTES))).toThrow(/shorten/);
    expect(() => isolinuxSlot('a\nb')).toThrow(/one line/);
  });
  it('xorriso builds an El Torito no-emulation CD, files grafted from where they are', () => {
    const cmd = buildXorrisoArgv('/usr/bin/xorriso', '/c/out.iso', {
      isolinuxBin: '/usr/lib/ISOLINUX/isolinux.bin',
      ldlinux: '/usr/lib/syslinux/modules/bios/ldlinux.c32',
      isolinuxCfg: '/c/cfg',
      kernel: '/k/vmlinuz',
      initrd: '/i/x.cpio',
    });
    expect(cmd.file).toBe('/usr/bin/xorriso');
    expect(cmd.args.slice(0, 2)).toEqual(['-as', 'mkisofs']);
    const a = cmd.args.join(' ');
    expect(a).toContain('-o /c/out.iso');
    expect(a).toContain(
      '-b isolinux/isolinux.bin -c isolinux/boot.cat -no-emul-boot -boot-load-size 4 -boot-info-table',
    );
    expect(cmd.args).toContain('isolinux/isolinux.bin=/usr/lib/ISOLINUX/isolinux.bin');
    expect(cmd.args).toContain('isolinux/ldlinux.c32=/usr/lib/syslinux/modules/bios/ldlinux.c32');
    expect(cmd.args).toContain('isolinux/isolinux.cfg=/c/cfg');
    expect(cmd.args).toContain('vmlinuz=/k/vmlinuz');
    expect(cmd.args).toContain('initrd=/i/x.cpio');
  });
});

describe('the cached CD and each run’s copy', () => {
  const placeholder = (token: string): Buffer =>
    buildIsolinuxCfg(placeholderCmdline(token)).subarray(ISOLINUX_CFG_HEAD.length);

  it('finds the slot once, and refuses a CD where it is absent or twice', () => {
    const p = placeholder('t0');
    const iso = Buffer.concat([Buffer.alloc(5000, 1), p, Buffer.alloc(100, 2)]);
    expect(findSlot(iso, p)).toBe(5000);
    expect(findSlot(Buffer.alloc(9000), p)).toBeUndefined();
    expect(findSlot(Buffer.concat([iso, p]), p)).toBeUndefined();
  });
  it('a run writes its command line over the placeholder in its own copy; the cache is untouched', async () => {
    const d = tmp();
    const p = placeholder('t1');
    const before = Buffer.concat([Buffer.alloc(4096, 7), p, Buffer.alloc(4096, 9)]);
    writeFileSync(join(d, 'cached.iso'), before);
    const cached = { path: join(d, 'cached.iso'), slotOffset: 4096, placeholder: p, built: false };
    await writeRunIso(cached, 'console=ttyS0 -- RUN', join(d, 'run.iso'));
    const run = readFileSync(join(d, 'run.iso'));
    expect(run.length).toBe(before.length);
    expect(run.subarray(0, 4096).equals(before.subarray(0, 4096))).toBe(true);
    expect(run.subarray(4096 + p.length).equals(before.subarray(4096 + p.length))).toBe(true);
    expect(run.subarray(4096, 4096 + 30).toString()).toBe('  APPEND console=ttyS0 -- RUN\n');
    expect(readFileSync(join(d, 'cached.iso')).equals(before)).toBe(true);
    // a cached CD whose slot no longer holds the placeholder is refused, not patched blindly
    await expect(writeRunIso({ ...cached, slotOffset: 10 }, 'x', join(d, 'run2.iso'))).rejects.toThrow(/changed/);
  });
  it('the key follows path, size and mtime of every input, not the inode', () => {
    const d = tmp();
    for (const f of ['k', 'i', 'isolinux.bin', 'ldlinux.c32']) writeFileSync(join(d, f), f);
    const inst = { isolinuxBin: join(d, 'isolinux.bin'), ldlinux: join(d, 'ldlinux.c32') };
    const k1 = isoCacheKey(join(d, 'k'), join(d, 'i'), inst);
    // the same bytes and times in a new inode (a copy, a new mount): same key
    const mtime = new Date('2026-01-02T03:04:05Z');
    utimesSync(join(d, 'k'), mtime, mtime);
    const k2 = isoCacheKey(join(d, 'k'), join(d, 'i'), inst);
    writeFileSync(join(d, 'k2'), 'k');
    rmSync(join(d, 'k'));
    writeFileSync(join(d, 'k'), 'k');
    utimesSync(join(d, 'k'), mtime, mtime);
    expect(isoCacheKey(join(d, 'k'), join(d, 'i'), inst)).toBe(k2);
    expect(k2).not.toBe(k1);
    writeFileSync(join(d, 'i'), 'a bigger initramfs');
    expect(isoCacheKey(join(d, 'k'), join(d, 'i'), inst)).not.toBe(k2);
    expect(() => isoCacheKey(join(d, 'nope'), join(d, 'i'), inst)).toThrow(/kernel/);
  });
  it('pruning keeps the most recently used CDs and drops CDs no sidecar names', async () => {
    const d = tmp();
    const old = new Date(Date.now() - 3600_000);
    for (let i = 0; i < 4; i++) {
      writeFileSync(join(d, `k${i}-a.iso`), 'iso');
      writeFileSync(join(d, `k${i}.json`), JSON.stringify({ iso: `k${i}-a.iso`, slotOffset: 0, token: 't' }));
      const t = new Date(Date.now() - (4 - i) * 60_000);
      utimesSync(join(d, `k${i}.json`), t, t);
    }
    writeFileSync(join(d, 'k3-lost-race.iso'), 'iso');
    utimesSync(join(d, 'k3-lost-race.iso'), old, old);
    writeFileSync(join(d, 'k3-building.iso'), 'iso'); // recent: maybe another tvctl's build in progress
    await pruneIsoCache(d, 2);
    expect(readdirSync(d).sort()).toEqual(['k2-a.iso', 'k2.json', 'k3-a.iso', 'k3-building.iso', 'k3.json']);
  });
});

describe('run directories', () => {
  it('are named after their tvctl; a dead one’s directory is swept, a live one’s kept', async () => {
    expect(runDirPid('tvctl-bochs-1234-AbC123')).toBe(1234);
    expect(runDirPid('tvctl-bochs-AbC123')).toBeUndefined();
    expect(runDirPid('tvctl-bochs-test-x')).toBeUndefined();
    const d = tmp();
    // a pid beyond pid_max cannot be alive
    mkdirSync(join(d, 'tvctl-bochs-99999999-dead00'));
    mkdirSync(join(d, `tvctl-bochs-${process.pid}-live00`));
    mkdirSync(join(d, 'unrelated'));
    await sweepStaleRunDirs(d);
    expect(readdirSync(d).sort()).toEqual([`tvctl-bochs-${process.pid}-live00`, 'unrelated']);
  });
});

describe('why Bochs stopped', () => {
  it('the exit message first, then the log’s last panic or error (MSR noise left out)', () => {
    const stderr =
      'ALSA lib ...\n========\nBochs is exiting with the following message:\n[CPU0  ] exception(): 3rd (13) exception with no resolution\n=====\n';
    expect(bochsStopLine(stderr, '')).toBe(
      "the guest triple-faulted, as a kernel panic's reboot does here (Bochs: [CPU0] exception(): 3rd (13) exception with no resolution)",
    );
    const log =
      '00000000000i[SER   ] com1 at 0x03f8\n00153237023e[CPU0  ] RDMSR: Unknown register 0x8b\n00200000000p[HD    ] could not open cdrom\n';
    expect(bochsStopLine('something\n', log)).toBe('[HD] could not open cdrom');
    expect(bochsStopLine('last words\n', '')).toBe('last words');
  });
  it('a soft power off is the normal end (Bochs exits 1)', () => {
    expect(
      isSoftPowerOff('Bochs is exiting with the following message:\n[ACPI  ] ACPI control: soft power off\n'),
    ).toBe(true);
    expect(isSoftPowerOff('[CPU0 ] exception')).toBe(false);
  });
});

describe('is Bochs usable here (findBochs)', () => {
  function install(d: string, parts: { bin?: boolean; bios?: boolean; iso?: boolean }) {
    const bin = join(d, 'bin');
    const share = join(d, 'share');
    const isolinuxDir = join(d, 'isolinux');
    const syslinuxBiosDir = join(d, 'syslinux');
    for (const x of [bin, share, isolinuxDir, syslinuxBiosDir]) mkdirSync(x);
    const exe = (p: string): void => {
      writeFileSync(p, '#!/bin/sh\n');
      chmodSync(p, 0o755);
    };
    if (parts.bin) exe(join(bin, 'bochs-bin'));
    if (parts.bios) {
      writeFileSync(join(share, 'BIOS-bochs-latest'), '');
      writeFileSync(join(share, 'VGABIOS-lgpl-latest'), '');
    }
    if (parts.iso) {
      exe(join(bin, 'xorriso'));
      writeFileSync(join(isolinuxDir, 'isolinux.bin'), '');
      writeFileSync(join(syslinuxBiosDir, 'ldlinux.c32'), '');
    }
    return { path: bin, share, isolinuxDir, syslinuxBiosDir };
  }
  it('says what is missing and what to install', () => {
    expect(findBochs(install(tmp(), {}))).toMatchObject({ usable: false, why: /Bochs is not installed; apt-get/ });
    expect(findBochs(install(tmp(), { bin: true }))).toMatchObject({
      usable: false,
      why: /no BIOS images .*BIOS-bochs-latest.*; apt-get install bochsbios vgabios/,
    });
    expect(findBochs(install(tmp(), { bin: true, bios: true }))).toMatchObject({
      usable: false,
      why: /boot CD .*isolinux\.bin.*xorriso.*apt-get install isolinux syslinux-common xorriso/,
    });
    const ok = findBochs(install(tmp(), { bin: true, bios: true, iso: true }));
    expect(ok.usable).toBe(true);
    if (ok.usable) expect(ok.install.binary).toMatch(/bin\/bochs-bin$/);
  });
  it('info: usable, needs a guest kernel, or not usable with the reason', () => {
    const inst = findBochs(install(tmp(), { bin: true, bios: true, iso: true }));
    const kernel = { installed: true, path: '/k' };
    expect(bochsEngineUse(inst, kernel)).toMatchObject({ engine: 'bochs', usable: true, fullLinux: true });
    expect(bochsEngineUse(inst, { installed: false, path: '/k' })).toMatchObject({
      usable: true,
      fullLinux: false,
      needs: 'guest-kernel',
      why: /no guest kernel/,
    });
    expect(bochsEngineUse({ usable: false, why: 'Bochs is not installed' }, kernel)).toMatchObject({
      usable: false,
      why: 'Bochs is not installed',
    });
    const { explanation: _drop, ...facts } = HOST;
    const sentence = (engines: typeof HOST.engines): string => explainHost({ ...facts, engines })[3]!;
    expect(sentence([...HOST.engines, bochsEngineUse(inst, kernel)])).toMatch(
      /^Interpreted emulation .* usable here\.$/,
    );
    expect(sentence([...HOST.engines, bochsEngineUse({ usable: false, why: 'no Bochs' }, kernel)])).toMatch(
      /not usable here: no Bochs\.$/,
    );
  });
});

describe('compare: the bochs mode', () => {
  it('is a mode of its own, off by default, interpreted emulation', () => {
    expect(DEFAULT_MODES).not.toContain('bochs');
    expect(parseEngines('container,kvm,qemu,bochs')).toEqual(['container', 'kvm', 'qemu', 'bochs']);
    const engines = [...HOST.engines, { engine: 'bochs' as const, usable: true, fullLinux: true, why: 'installed' }];
    const [p] = planModes(['bochs'], { engines, vmRunBuilt: true, guestKernelInstalled: true });
    expect(p).toMatchObject({
      id: 'bochs',
      label: 'VM · Bochs',
      kind: 'interpreted emulation',
      available: true,
      tvctlArgs: ['vm', 'run', '--engine', 'bochs'],
    });
    expect(p!.accel).toBeUndefined();
    const [off] = planModes(['bochs'], { engines: HOST.engines, vmRunBuilt: true, guestKernelInstalled: true });
    expect(off!.available).toBe(false);
    expect(off!.reason).toMatch(/^unavailable/);
  });
  it('its system calls go through a guest kernel on an interpreter', () => {
    const f = deriveIsolation(
      { kernelRelease: '6.1.0', bootId: 'b' },
      { kernelRelease: '6.18', bootId: 'a' },
      'interpreted',
    );
    expect(f.syscallPath).toBe('guest-kernel-interpreted');
    expect(f.syscallPathText).toMatch(/Bochs/);
  });
});
