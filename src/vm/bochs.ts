/**
 * The bochs engine's pure parts: where Bochs and its boot files live, whether it can run here, the
 * bochsrc, the debugger rc file, the isolinux configuration and the command lines of Bochs and xorriso.
 *
 * Bochs interprets one guest instruction at a time. It cannot load a kernel by itself (its
 * load32bitOSImage is gone), so it boots a CD: isolinux loads the same bzImage and initramfs the other
 * engines boot, with the same command line. Debian's build has peculiarities the engine hides:
 * - no "nogui" display: the rfb (VNC) display with timeout=0 runs headless; it listens on the first free
 *   port of 5900–5949, so the engine starts Bochs in an empty network namespace when it can (as root): no
 *   port is taken or exposed on the host, and concurrent runs cannot collide;
 * - the built-in debugger stops before the first instruction: a debugger rc file holding "c" continues;
 * - the guest's ACPI power-off ends Bochs with exit status 1 ("soft power off"): the command's status comes
 *   from the guest init's markers only;
 * - a kernel panic reboots at once (panic=-1) through a triple fault (reboot=t), and
 *   reset_on_triple_fault=0 turns that into a Bochs panic, which ends it (panic: action=fatal).
 */
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { TvctlError } from '../errors.js';
import type { CommandLine } from '../util/exec.js';
import { findOnPath } from './probe.js';

/** Debian's /usr/bin/bochs is a shell wrapper around bochs-bin; the engine runs the binary itself. */
export const BOCHS_BINARIES = ['bochs-bin', 'bochs'] as const;

export const BOCHS_PACKAGES = 'bochs bochs-term bochsbios vgabios';
export const ISO_PACKAGES = 'isolinux syslinux-common xorriso';

/**
 * What an interpreted boot needs on top of the other engines' command line, each worth seconds here:
 * - mitigations=off, nokaslr: no speculation workarounds patched in, no relocation of the kernel by the
 *   decompressor (Bochs emulates no speculation, and the guest is thrown away after one command);
 * - tsc=reliable: no clocksource watchdog comparing the emulated TSC with the emulated HPET;
 * - reboot=t: a panic's reboot (panic=-1) triple-faults, which ends Bochs (see BOCHS_CPU_LINE);
 * - initcall_blacklist: initcalls the guest never needs and that cost the interpreter most, as the
 *   kernel's own initcall_debug timings show: the tracing set-up (trace_eval_init's deferred work is
 *   waited for later, init_kprobe_trace, tracer_init_tracefs), loading the built-in certificate list and
 *   the crypto self-tests that cryptomgr.notests does not cover. An unknown name is ignored by the kernel.
 */
export const BOCHS_KERNEL_PARAMS: readonly string[] = [
  'mitigations=off',
  'nokaslr',
  'tsc=reliable',
  'reboot=t',
  'initcall_blacklist=' +
    [
      'trace_eval_init',
      'init_kprobe_trace',
      'tracer_init_tracefs',
      'load_system_certificate_list',
      'crypto_kdf108_init',
      'blake2s_mod_init',
    ].join(','),
];

/** isolinux adds "BOOT_IMAGE=/vmlinuz " in front of the APPEND line and " initrd=/initrd" after it. */
export const ISOLINUX_CMDLINE_OVERHEAD = 'BOOT_IMAGE=/vmlinuz '.length + ' initrd=/initrd'.length;

/**
 * Emulated instructions per emulated second. Bochs's clock follows the instruction count, not the host's
 * clock; at about the speed it interprets here, the guest's timestamps (boot to init, the command's own
 * time) read close to wall-clock seconds, and timer interrupts do not eat the instruction budget.
 */
export const BOCHS_IPS = 50_000_000;

export interface BochsInstall {
  binary: string;
  bios: string;
  vgaBios: string;
  isolinuxBin: string;
  ldlinux: string;
  xorriso: string;
}

export interface BochsInstallRoots {
  path?: string;
  /** Bochs's data directory (BXSHARE), default /usr/share/bochs */
  share?: string;
  /** isolinux.bin's directory, default /usr/lib/ISOLINUX */
  isolinuxDir?: string;
  /** ldlinux.c32's directory, default /usr/lib/syslinux/modules/bios */
  syslinuxBiosDir?: string;
}

export type BochsAvailability = { usable: true; install: BochsInstall; why: string } | { usable: false; why: string };

function readable(p: string): boolean {
  try {
    accessSync(p, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/** Is everything an interpreted boot needs installed? Never throws: the reason is the answer. */
export function findBochs(roots: BochsInstallRoots = {}): BochsAvailability {
  const share = roots.share ?? process.env['BXSHARE'] ?? '/usr/share/bochs';
  const binary = BOCHS_BINARIES.map((b) => findOnPath(b, roots.path)).find((b) => b !== undefined);
  if (!binary) return { usable: false, why: `Bochs is not installed; apt-get install ${BOCHS_PACKAGES}` };
  const bios = join(share, 'BIOS-bochs-latest');
  const vgaBios = join(share, 'VGABIOS-lgpl-latest');
  const noBios = [bios, vgaBios].filter((f) => !readable(f));
  if (noBios.length)
    return {
      usable: false,
      why: `Bochs has no BIOS images (${noBios.join(', ')} missing); apt-get install bochsbios vgabios`,
    };
  const isolinuxBin = join(roots.isolinuxDir ?? '/usr/lib/ISOLINUX', 'isolinux.bin');
  const ldlinux = join(roots.syslinuxBiosDir ?? '/usr/lib/syslinux/modules/bios', 'ldlinux.c32');
  const xorriso = findOnPath('xorriso', roots.path);
  const noIso = [...[isolinuxBin, ldlinux].filter((f) => !readable(f)), ...(xorriso ? [] : ['xorriso (not on PATH)'])];
  if (noIso.length || !xorriso)
    return {
      usable: false,
      why: `the boot CD for Bochs cannot be built (${noIso.join(', ')} missing); apt-get install ${ISO_PACKAGES}`,
    };
  return {
    usable: true,
    install: { binary, bios, vgaBios, isolinuxBin, ldlinux, xorriso },
    why: `${binary} interprets every guest instruction (the guest kernel boots from an isolinux CD, several times slower than QEMU TCG)`,
  };
}

export interface BochsConfigSpec {
  bios: string;
  vgaBios: string;
  iso: string;
  memoryMiB: number;
  /** where COM1 (kernel console + markers), COM2 (stdout) and COM3 (stderr) write */
  serial: readonly [string, string, string];
  log: string;
  ips?: number;
}

/** A value in a bochsrc line: Bochs splits options at commas and has no quoting for them. */
function rcPath(p: string): string {
  if (!p || /[,"\n\r#]/.test(p) || /^\s|\s$/.test(p))
    throw new TvctlError('VM_FILE', `path "${p}" cannot be written into a bochsrc (no commas, quotes or #)`);
  return p;
}

/** The triple fault a panic's reboot=t causes must end the run, not reset the machine. */
export const BOCHS_CPU_LINE = (ips: number): string => `cpu: count=1, ips=${ips}, reset_on_triple_fault=0`;

export function buildBochsrc(s: BochsConfigSpec): string {
  if (!Number.isInteger(s.memoryMiB) || s.memoryMiB < 16)
    throw new TvctlError('VM_MEMORY_TOO_SMALL', `Bochs needs at least 16 MiB, not ${s.memoryMiB}`);
  const [com1, com2, com3] = s.serial;
  return [
    `memory: guest=${s.memoryMiB}, host=${s.memoryMiB}`,
    `romimage: file=${rcPath(s.bios)}`,
    `vgaromimage: file=${rcPath(s.vgaBios)}`,
    BOCHS_CPU_LINE(s.ips ?? BOCHS_IPS),
    'pci: enabled=1, chipset=i440fx',
    'ata0: enabled=1, ioaddr1=0x1f0, ioaddr2=0x3f0, irq=14',
    `ata0-master: type=cdrom, path=${rcPath(s.iso)}, status=inserted`,
    'boot: cdrom',
    'display_library: rfb, options="timeout=0"',
    // The UARTs the guest init uses, at the legacy ports Linux probes (COM3 shares COM1's IRQ 4, as on a PC).
    `com1: enabled=1, mode=file, dev=${rcPath(com1)}`,
    `com2: enabled=1, mode=file, dev=${rcPath(com2)}`,
    `com3: enabled=1, mode=file, dev=${rcPath(com3)}`,
    'parport1: enabled=0',
    'speaker: enabled=0',
    'mouse: enabled=0',
    `log: ${rcPath(s.log)}`,
    'panic: action=fatal',
    'error: action=report',
    'info: action=report',
    'debug: action=ignore',
    '',
  ].join('\n');
}

/** The debugger (built into Debian's Bochs) stops before the first instruction; this continues. */
export const BOCHS_DEBUGGER_RC = 'c\n';

/** `-q`: no start menu; the configuration and the debugger's rc file. */
export function buildBochsArgv(binary: string, bochsrc: string, debuggerRc: string): CommandLine {
  return { file: binary, args: ['-q', '-f', bochsrc, '-rc', debuggerRc] };
}

export interface BochsWrappers {
  /** util-linux unshare, as root: Bochs in an empty network namespace, its rfb listener neither reachable nor in the way */
  unshare?: string;
  /** util-linux setpriv: SIGKILL to Bochs when tvctl dies, however it dies (PR_SET_PDEATHSIG survives exec) */
  setpriv?: string;
}

/** Bochs's command line inside its wrappers; each execs the next, so the pid tvctl holds is Bochs's own. */
export function wrapBochs(cmd: CommandLine, w: BochsWrappers): CommandLine {
  let out = cmd;
  if (w.setpriv) out = { file: w.setpriv, args: ['--pdeathsig', 'KILL', '--', out.file, ...out.args] };
  if (w.unshare) out = { file: w.unshare, args: ['--net', '--', out.file, ...out.args] };
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// The boot CD's isolinux configuration. The kernel command line holds each run's nonce, so it cannot be
// part of a cached CD: the CD is built once with a fixed-size slot for the APPEND line, and each run writes
// its command line into its own copy of the CD, in place (ISO 9660 stores a file's bytes contiguously).

/** Bytes of the slot: "  APPEND " + a command line the kernel takes (< 2048) + padding. */
export const ISOLINUX_SLOT_BYTES = 2304;

export const ISOLINUX_CFG_HEAD = [
  'DEFAULT tvctl',
  'PROMPT 0',
  'TIMEOUT 0',
  'LABEL tvctl',
  '  KERNEL /vmlinuz',
  '  INITRD /initrd',
  '',
].join('\n');

/** The slot: the APPEND line, then a comment line that pads it to ISOLINUX_SLOT_BYTES exactly. */
export function isolinuxSlot(cmdline: string): Buffer {
  if (/[\r\n]/.test(cmdline)) throw new TvctlError('VM_BAD_CMDLINE', 'kernel command line must be one line');
  const line = Buffer.from(`  APPEND ${cmdline}\n`, 'utf8');
  const pad = ISOLINUX_SLOT_BYTES - line.length;
  if (pad < 0)
    throw new TvctlError(
      'VM_CMDLINE_TOO_LONG',
      `the kernel command line needs ${line.length} bytes in isolinux.cfg (room for ${ISOLINUX_SLOT_BYTES}); shorten the command or environment`,
    );
  const filler = pad >= 2 ? `#${' '.repeat(pad - 2)}\n` : '\n'.repeat(pad);
  return Buffer.concat([line, Buffer.from(filler, 'latin1')]);
}

/** The whole isolinux.cfg for a command line (the cached CD holds it for a placeholder command line). */
export function buildIsolinuxCfg(cmdline: string): Buffer {
  return Buffer.concat([Buffer.from(ISOLINUX_CFG_HEAD, 'latin1'), isolinuxSlot(cmdline)]);
}

export interface IsoLayout {
  isolinuxBin: string;
  ldlinux: string;
  isolinuxCfg: string;
  kernel: string;
  initrd: string;
}

/**
 * An El Torito no-emulation boot CD (isolinux's own recipe), its files grafted from where they are (no
 * copies): /isolinux/{isolinux.bin,ldlinux.c32,isolinux.cfg}, /vmlinuz, /initrd.
 */
export function buildXorrisoArgv(xorriso: string, out: string, l: IsoLayout): CommandLine {
  return {
    file: xorriso,
    args: [
      '-as',
      'mkisofs',
      '-quiet',
      '-o',
      out,
      '-b',
      'isolinux/isolinux.bin',
      '-c',
      'isolinux/boot.cat',
      '-no-emul-boot',
      '-boot-load-size',
      '4',
      '-boot-info-table',
      '-graft-points',
      `isolinux/isolinux.bin=${l.isolinuxBin}`,
      `isolinux/ldlinux.c32=${l.ldlinux}`,
      `isolinux/isolinux.cfg=${l.isolinuxCfg}`,
      `vmlinuz=${l.kernel}`,
      `initrd=${l.initrd}`,
    ],
  };
}

/** One line from Bochs's stderr and log that says why it ended (the log's error and panic lines first). */
export function bochsStopLine(stderr: string, log: string): string {
  const tidy = (l: string): string => l.trim().replace(/^\[\s*([A-Z0-9]+)\s*\]\s*/, '[$1] ');
  const exiting = /Bochs is exiting with the following message:\s*\n\s*(.+)/.exec(stderr)?.[1];
  const bad = log
    .split('\n')
    .filter((l) => /^\d+[pe]\[/.test(l.trim()))
    .map((l) => tidy(l.trim().replace(/^\d+[pe]/, '')))
    .filter((l) => !/RDMSR|WRMSR/.test(l));
  const line = exiting !== undefined ? tidy(exiting) : (bad[bad.length - 1] ?? stderr.trim().split('\n').pop());
  if (!line) return 'no output';
  // reboot=t turns a kernel panic (panic=-1) into a triple fault, and reset_on_triple_fault=0 into this
  if (/3rd \(\d+\) exception with no resolution/.test(line))
    return `the guest triple-faulted, as a kernel panic's reboot does here (Bochs: ${line})`;
  return line;
}

/** Did Bochs end because the guest powered the machine off (its normal end, exit status 1)? */
export function isSoftPowerOff(stderr: string): boolean {
  return /soft power off/i.test(stderr);
}
