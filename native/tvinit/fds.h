/* The fd numbers tvctl and tvinit agree on. src/namespaces/fds.ts holds the TypeScript side; a unit test
 * (test/unit/namespaces/fds.test.ts) reads this header and checks the two match. Keep one #define per line. */
#ifndef TVINIT_FDS_H
#define TVINIT_FDS_H

/* Node -> shim: the pipe on which the shim relays "pid N" or "error CODE MSG" (the conf's sync_fd=). */
#define TVINIT_SHIM_SYNC_FD 3
/* Shim -> its child (init/exec): the sync socket of the pid/ack handshake. */
#define TVINIT_SYNC_FD 3
/* Shim -> its child, with a tty: the socket over which init/exec send the pty master. */
#define TVINIT_CONSOLE_FD 4
/* The sealed memfd copy of tvinit in the shim's child (the shim conf's seal_fd=). */
#define TVINIT_SEAL_FD 5
/* The exec conf as a memfd in the shim's child (the shim conf's conf_fd=). */
#define TVINIT_EXEC_CONF_FD 6

#endif
