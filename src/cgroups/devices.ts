/** A device cgroup rule, as in `devices.allow` ("c 1:3 rwm"); null major/minor = any (`*`). */
export interface DeviceRule {
  type: 'a' | 'b' | 'c';
  major: number | null;
  minor: number | null;
  access: string; // subset of "rwm"
}

function rule(type: 'b' | 'c', major: number | null, minor: number | null, access: string): DeviceRule {
  return { type, major, minor, access };
}

/** Docker's default allowlist: mknod anything, but read/write only the harmless char devices and ptys. */
export const DEFAULT_DEVICE_RULES: readonly DeviceRule[] = [
  rule('c', null, null, 'm'),
  rule('b', null, null, 'm'),
  rule('c', 1, 3, 'rwm'), // null
  rule('c', 1, 5, 'rwm'), // zero
  rule('c', 1, 7, 'rwm'), // full
  rule('c', 1, 8, 'rwm'), // random
  rule('c', 1, 9, 'rwm'), // urandom
  rule('c', 5, 0, 'rwm'), // tty
  rule('c', 5, 1, 'rwm'), // console
  rule('c', 5, 2, 'rwm'), // ptmx
  rule('c', 136, null, 'rwm'), // pts
  rule('c', 10, 200, 'rwm'), // tun
];

/** "c 1:3 rwm" — the v1 devices.allow syntax, also the argument syntax of native/cgdev. */
export function formatDeviceRule(r: DeviceRule): string {
  const n = (v: number | null): string => (v === null ? '*' : String(v));
  return r.type === 'a' ? `a *:* ${r.access}` : `${r.type} ${n(r.major)}:${n(r.minor)} ${r.access}`;
}

/** argv for native/cgdev: attach a BPF_PROG_TYPE_CGROUP_DEVICE allowlist program to a cgroup2 dir. */
export function buildCgdevArgv(
  binary: string,
  cgroupDir: string,
  rules: readonly DeviceRule[],
): { file: string; args: string[] } {
  return { file: binary, args: ['attach', cgroupDir, ...rules.map(formatDeviceRule)] };
}
