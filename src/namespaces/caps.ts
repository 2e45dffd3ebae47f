import { TvctlError } from '../errors.js';

/** Linux capability numbers (include/uapi/linux/capability.h), index = bit. */
export const CAPABILITIES = [
  'CHOWN',
  'DAC_OVERRIDE',
  'DAC_READ_SEARCH',
  'FOWNER',
  'FSETID',
  'KILL',
  'SETGID',
  'SETUID',
  'SETPCAP',
  'LINUX_IMMUTABLE',
  'NET_BIND_SERVICE',
  'NET_BROADCAST',
  'NET_ADMIN',
  'NET_RAW',
  'IPC_LOCK',
  'IPC_OWNER',
  'SYS_MODULE',
  'SYS_RAWIO',
  'SYS_CHROOT',
  'SYS_PTRACE',
  'SYS_PACCT',
  'SYS_ADMIN',
  'SYS_BOOT',
  'SYS_NICE',
  'SYS_RESOURCE',
  'SYS_TIME',
  'SYS_TTY_CONFIG',
  'MKNOD',
  'LEASE',
  'AUDIT_WRITE',
  'AUDIT_CONTROL',
  'SETFCAP',
  'MAC_OVERRIDE',
  'MAC_ADMIN',
  'SYSLOG',
  'WAKE_ALARM',
  'BLOCK_SUSPEND',
  'AUDIT_READ',
  'PERFMON',
  'BPF',
  'CHECKPOINT_RESTORE',
] as const;

export type Capability = (typeof CAPABILITIES)[number];

/** Docker's default set (14 capabilities) = 0x00000000a80425fb. */
export const DOCKER_DEFAULT_CAPS: readonly Capability[] = [
  'CHOWN',
  'DAC_OVERRIDE',
  'FSETID',
  'FOWNER',
  'MKNOD',
  'NET_RAW',
  'SETGID',
  'SETUID',
  'SETFCAP',
  'SETPCAP',
  'NET_BIND_SERVICE',
  'SYS_CHROOT',
  'KILL',
  'AUDIT_WRITE',
];

export const ALL_CAPS_MASK = (1n << BigInt(CAPABILITIES.length)) - 1n;

function capBit(name: string): bigint {
  const n = name.trim().toUpperCase().replace(/^CAP_/, '');
  const i = (CAPABILITIES as readonly string[]).indexOf(n);
  if (i < 0) throw new TvctlError('INVALID_CAPABILITY', `invalid capability "${name}"; see capabilities(7) for names`);
  return 1n << BigInt(i);
}

const isAll = (name: string): boolean => name.trim().toUpperCase() === 'ALL';

export function maskOf(names: readonly string[]): bigint {
  return names.reduce((m, n) => (isAll(n) ? ALL_CAPS_MASK : m | capBit(n)), 0n);
}

export const DOCKER_DEFAULT_CAP_MASK = maskOf(DOCKER_DEFAULT_CAPS);

/**
 * Docker's --cap-add/--cap-drop arithmetic: start from the default set (all with `--cap-add ALL`, none with
 * `--cap-drop ALL`), remove the named drops, then add the named adds (so `--cap-drop ALL --cap-add X` = X).
 */
export function capabilityMask(add: readonly string[] = [], drop: readonly string[] = []): bigint {
  let mask = DOCKER_DEFAULT_CAP_MASK;
  if (drop.some(isAll)) mask = 0n;
  if (add.some(isAll)) mask = ALL_CAPS_MASK;
  for (const d of drop) if (!isAll(d)) mask &= ~capBit(d);
  for (const a of add) if (!isAll(a)) mask |= capBit(a);
  return mask;
}

/** As /proc/PID/status prints CapEff: 16 hex digits. */
export function formatCapMask(mask: bigint): string {
  return mask.toString(16).padStart(16, '0');
}

/** Names of the bits set in a mask (CAP_ prefixed, in bit order). */
export function capabilityNames(mask: bigint): string[] {
  return CAPABILITIES.filter((_, i) => (mask >> BigInt(i)) & 1n).map((n) => `CAP_${n}`);
}
