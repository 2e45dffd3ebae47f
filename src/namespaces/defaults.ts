/** Docker's default masked paths: /dev/null over files, an empty read-only tmpfs over dirs. */
export const DEFAULT_MASKED_PATHS: readonly string[] = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/interrupts',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

/** Docker's read-only paths (bind onto themselves, remounted ro,nosuid,nodev,noexec). */
export const DEFAULT_READONLY_PATHS: readonly string[] = [
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
];

/** Device nodes created in the container's /dev tmpfs (plus pts/, shm/, mqueue/ and the fd links). */
export const DEFAULT_DEVICES: readonly string[] = ['null', 'zero', 'full', 'random', 'urandom', 'tty'];
