/**
 * One error family for the whole project. `code` is a stable machine-readable tag (shown in --json output) and
 * it alone decides the exit code, through the registry below: no throw site picks its own. The exit codes follow
 * Docker's: 125 when tvctl itself fails or was used wrongly (a usage error is 125 in every command), 126 when the
 * container's command cannot be invoked, 127 when it is not found, and 1 where Docker's CLI answers 1 for the
 * same condition in a command other than run (no such container, container not running, a bulk command with
 * failures).
 */

export const EXIT_FAILURE = 1;
export const EXIT_TVCTL = 125;
export const EXIT_CANNOT_INVOKE = 126;
export const EXIT_NOT_FOUND = 127;

interface ErrorKind {
  exit: number;
  /** what the code means, for the reader of --json output and of this table */
  means: string;
}

const usage = (means: string): ErrorKind => ({ exit: EXIT_TVCTL, means });
const failed = (means: string): ErrorKind => ({ exit: EXIT_TVCTL, means });
const state = (means: string): ErrorKind => ({ exit: EXIT_FAILURE, means });

/** Every error code tvctl raises, with its exit code. */
export const ERROR_CODES = {
  // Usage: the command line or a value in it is wrong. Docker answers 125 for a flag (or a run option) it
  // cannot accept, and 1 when the arguments are missing or too many (its "requires at least N arguments").
  BAD_USAGE: usage('a flag, a flag value or a combination of options the command does not accept'),
  BAD_ARGS: state('too few or too many arguments, or nothing for the command to do'),
  BAD_LIMIT: usage('a resource limit that cannot be parsed or applied (-m, --cpus, --pids-limit, …)'),
  BAD_REFERENCE: usage('an image reference that is not NAME[:TAG] or a digest'),
  BAD_NAME: usage('a name that is not [a-zA-Z0-9][a-zA-Z0-9_.-]+'),
  INVALID_NAME: usage('a container name that is not [a-zA-Z0-9][a-zA-Z0-9_.-]+'),
  BAD_ID: usage('an ID or name that cannot name anything'),
  BAD_PUBLISH: usage('a -p/--publish that is not [IP:]HOST:CONTAINER[/PROTO]'),
  BAD_SUBNET: usage('a subnet that is not an IPv4 CIDR'),
  BAD_GATEWAY: usage('a gateway outside its subnet'),
  BAD_ADDRESS: usage('an IP address that is not valid here'),
  BAD_DNS: usage('a --dns that is not an IP address'),
  BAD_ADD_HOST: usage('an --add-host that is not HOST:IP'),
  BAD_ENV_FILE: usage('an --env-file that cannot be read'),
  INVALID_ENV: usage('an environment entry that is not KEY=VALUE'),
  INVALID_LABEL: usage('a label that is not KEY=VALUE'),
  INVALID_VOLUME: usage('a -v/--volume that is not SRC:DST[:ro]'),
  INVALID_CAPABILITY: usage('a capability name Linux does not have'),
  INVALID_SIGNAL: state('a signal name or number Linux does not have'),
  INVALID_RESTART: usage('a --restart policy other than no, always, on-failure[:N], unless-stopped'),
  NO_COMMAND: usage('neither the command line nor the image gives a command'),
  RESERVED_NAME: usage('a name tvctl keeps for itself (a network such as bridge, host, none)'),
  VM_BAD_CMDLINE: usage('a guest kernel command line tvctl cannot pass on'),
  VM_CMDLINE_TOO_LONG: usage('a guest kernel command line longer than the boot protocol allows'),
  VM_MEMORY_TOO_SMALL: usage('a VM memory size too small for the guest'),
  BAD_INPUT: usage('an input file or stream that is not what the command reads'),
  FILE_NOT_FOUND: usage('a file named on the command line does not exist'),
  VM_FILE: usage('a file given for a VM (kernel, initrd) cannot be used'),

  // The thing named does not exist, or is in the wrong state for the operation (Docker answers 1).
  NO_SUCH_CONTAINER: state('no container has that ID, ID prefix or name'),
  AMBIGUOUS_ID: state('an ID prefix matches more than one container'),
  NOT_RUNNING: state('the container is not running'),
  CONTAINER_RUNNING: state('the container is running; stop it or force the operation'),
  PARTIAL_FAILURE: state('a command over several containers failed for some of them'),
  CANNOT_START: state('the container is in a state it cannot be started from'),
  PORT_NOT_PUBLISHED: state('the container publishes no such port'),
  UNKNOWN_COMMAND: state('the command line names no tvctl command'),
  NAME_IN_USE: failed('the name is already used by another container'),
  IMAGE_IN_USE: failed('a container uses the image'),
  NETWORK_EXISTS: failed('a network with that name exists'),
  NETWORK_IN_USE: failed('containers are attached to the network'),
  NOT_ATTACHED: failed('the container is not attached to that network'),

  // The container's own command could not run.
  COMMAND_NOT_FOUND: { exit: EXIT_NOT_FOUND, means: "the container's command does not exist in its root" },
  COMMAND_NOT_EXECUTABLE: { exit: EXIT_CANNOT_INVOKE, means: "the container's command cannot be executed" },

  // Images and their store.
  IMAGE_NOT_FOUND: failed('no image has that reference or ID'),
  IMAGE_AMBIGUOUS: failed('an image ID prefix matches more than one image'),
  IMAGE_CONFLICT: failed('the reference already names another image'),
  BAD_ARCHIVE: failed('an image archive (OCI layout or docker save) is malformed'),
  BAD_LAYER: failed('a layer could not be unpacked (corrupt, cut short, or an entry tvctl refuses)'),
  BAD_TAR: failed('a tar stream is malformed'),
  LAYER_MISSING: failed("an image's layer is missing from the store"),
  BLOB_MISSING: failed('an image refers to a blob its archive does not hold'),
  BAD_DIGEST: failed("a blob's content does not match its digest"),
  STORE_CORRUPT: failed('the image store holds a record it cannot read'),
  LZ4: failed('an LZ4 stream is corrupt'),
  NO_SPACE: failed('the disk is full'),

  // Host set-up and resources.
  NO_CGDEV: failed('the cgroup v2 device filter helper is not built'),
  NO_DEVICE_CGROUP: failed('no devices controller and no cgroup v2 device filter: device access cannot be restricted'),
  CGROUP_KILL: failed("a cgroup's processes could not all be killed"),
  NFT_DAMAGED: failed("tvctl's nftables table was changed by something else"),
  NETNS_EXISTS: failed('a network namespace with that name exists already'),
  BRIDGE_MISMATCH: failed("a bridge with the network's name exists with other settings"),
  NETWORK_NOT_FOUND: failed('no network has that name or ID'),
  AMBIGUOUS: failed('an ID prefix matches more than one network'),
  ALREADY_CONNECTED: failed('the container is already connected to that network'),
  NOT_CONNECTED: failed('the container is not connected to that network'),
  USER_NOT_FOUND: failed("the user or group is not in the image's /etc/passwd or /etc/group"),
  CORRUPT_EXIT_FILE: failed("a container's exit record cannot be read"),
  CONTAINER_DEAD: failed('the container is dead (its exit record is corrupt); remove it'),
  KERNEL_DOWNLOAD: failed('the guest kernel package could not be fetched'),
  BOOT_CMDLINE: usage('a guest kernel command line longer than this kernel takes'),
  NOT_ROOT: failed('the operation needs root'),
  ENOENT: failed('an external program tvctl needs is not installed'),
  COMMAND_FAILED: failed('an external program tvctl ran failed'),
  LOCK_TIMEOUT: failed('another tvctl held a lock for too long'),
  INVALID_CONF: failed('tvctl built a conf its init helper refuses (a bug)'),
  NO_CGROUP: failed("the container's cgroup does not exist"),
  NO_CGROUPS: failed('no usable cgroup hierarchy on this host'),
  NO_CONTROLLER: failed('a cgroup controller a limit needs is not available'),
  CGROUP_EXISTS: failed('a cgroup with the container ID exists already'),
  CGROUP_WRITE: failed('the kernel refused a cgroup limit'),
  CGROUP_REMOVE: failed('a cgroup could not be removed'),
  PORT_IN_USE: failed('a host port is already allocated'),
  NO_SUBNET: failed('no free subnet is left for a new network'),
  SUBNET_OVERLAP: failed('the subnet overlaps another network or a host route'),
  NO_ADDRESS: failed('the network has no free address'),
  TOO_MANY_NETWORKS: failed('the container is on as many networks as tvctl supports'),
  SHIM_START_FAILED: failed("the container's supervisor did not start"),
  CONTAINER_START_FAILED: failed('the container could not be started'),
  DETACH_FAILED: failed('a detached container did not report its start'),
  INTERNAL: failed('an unexpected error inside tvctl'),

  // VMs.
  VM_ENGINE_UNAVAILABLE: failed('the chosen VM engine cannot run on this host'),
  VM_INIT_MISSING: failed('the guest init helper is not built'),
  WORKLOAD_MISSING: failed('the compare workload (native/workload) is not built'),
  VM_GUEST_FAILED: failed('the guest did not run the command to its end'),
  VM_STOPPED: failed('the VM stopped before the command ended'),
  KERNEL_NOT_FOUND: failed('no guest kernel is installed'),
  KERNEL_PACKAGE: failed('the guest kernel package cannot be installed'),
  KERNEL_INVALID: failed('the guest kernel file is not a usable kernel'),
  NOT_BZIMAGE: failed('the kernel file is not a bzImage'),
  NOT_VMLINUX: failed('the kernel file is not an ELF vmlinux'),
  BOOT_PROTOCOL: failed("the kernel's boot protocol is too old"),
  PVH_UNSUPPORTED: failed('the kernel has no PVH entry point'),
  INITRAMFS_CHANGED: failed('a cached initramfs changed while it was used'),
  QEMU_NOT_FOUND: failed('qemu-system-x86_64 is not installed'),
} as const satisfies Record<string, ErrorKind>;

/** A registered code, or one of the KVM addon's own (`KVM_OPEN`, `KVM_RUN`, …: all are tvctl failures). */
export type ErrorCode = keyof typeof ERROR_CODES | `KVM_${string}`;

export function exitCodeOf(code: ErrorCode): number {
  return (ERROR_CODES as Record<string, ErrorKind>)[code]?.exit ?? EXIT_TVCTL;
}

export class TvctlError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: number;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TvctlError';
    this.code = code;
    this.exitCode = exitCodeOf(code);
  }
}

export function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as NodeJS.ErrnoException).code === code;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
