/**
 * The fd numbers tvctl and tvinit agree on. native/tvinit/fds.h holds the C side; a unit test
 * (test/unit/namespaces/fds.test.ts) reads that header and checks these match, so the two cannot drift.
 */

/** Node → shim: the pipe (execa stdio index 3) on which the shim relays `pid N` or `error CODE MSG`. */
export const SHIM_SYNC_FD = 3;
/** Shim → its child (init/exec): the sync socket of the pid/ack handshake. */
export const SYNC_FD = 3;
/** Shim → its child, with a tty: the socket over which init/exec send the pty master. */
export const CONSOLE_FD = 4;
/** The sealed memfd copy of tvinit in the shim's child: a host tvinit is never exec'd from the container. */
export const SEAL_FD = 5;
/** The exec conf as a memfd: after nsenter --root the exec process cannot reach host paths. */
export const EXEC_CONF_FD = 6;
