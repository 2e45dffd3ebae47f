/* tvinit: the container helper of tvctl (see README.md). Shared declarations. */
#ifndef TVINIT_H
#define TVINIT_H

#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fds.h"

#define EXIT_SETUP 125
#define EXIT_CANNOT_INVOKE 126
#define EXIT_NOT_FOUND 127

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* ---- conf.c: NUL-terminated key=value records ---- */
struct conf {
  char *buf;
  size_t nrec;
  char **keys;
  char **vals;
};
/* path is a file or "fd:N"; on failure calls fail(). */
void conf_load(struct conf *c, const char *path);
/* Last value of key, or NULL. */
const char *conf_get(const struct conf *c, const char *key);
/* Integer value or dflt (fail() on garbage). */
long conf_int(const struct conf *c, const char *key, long dflt);
/* Bool: value "1". */
int conf_bool(const struct conf *c, const char *key);
/* All values of key in order, NULL-terminated array (malloc'd); *n gets the count. */
char **conf_all(const struct conf *c, const char *key, size_t *n);

/* ---- util.c ---- */
/* Where fail() reports (`error CODE MESSAGE\n`); -1 = stderr. */
extern int g_report_fd;
/* A page shared between the ns parent and PID 1 (NULL outside `init`): the work-times stamp, see init.c. */
extern volatile unsigned long long *g_work_start;
unsigned long long monotonic_ns(void);
extern const char *g_prog; /* "tvinit shim" etc., for stderr messages */
void fail(int code, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
/* fail() with ": strerror(errno)" appended. */
void fail_errno(int code, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
void report(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int write_all(int fd, const void *buf, size_t len);
/* tmp + rename in the same dir. */
int write_file_atomic(const char *dir, const char *name, const char *data, size_t len);
/* Reads up to cap-1 bytes, NUL-terminates; returns length or -1. */
ssize_t read_small_file(const char *path, char *buf, size_t cap);
/* RFC3339Nano UTC, Docker style (trailing zeros of the fraction trimmed when trim). */
void format_time(char *out, size_t cap, int trim);
/* SCM_RIGHTS: send bytes + optional fd; receive bytes + optional fd (+ sender pid with SO_PASSCRED). */
int send_fd(int sock, const char *msg, size_t len, int fd);
ssize_t recv_fd(int sock, char *buf, size_t cap, int *fd_out, pid_t *pid_out);
/* Move fd to >= min with CLOEXEC, closing the old one. */
int move_fd_high(int fd, int min);
void reset_signals(void);

/* ---- sealed.c: run from sealed memfd copies, so a container never holds a writable handle on a host binary ---- */
int running_sealed(void);
/* Sealed, CLOEXEC memfd holding a copy of the file at path; -1 with errno. */
int sealed_copy(const char *path, const char *name);
/* Re-exec ourselves from a sealed copy unless already running from one. */
void ensure_sealed(char **argv);

/* ---- seccomp.c ---- */
int install_default_seccomp(void);

/* ---- pty.c ---- */
/* Opens a new pty from ptmx_path; returns master (CLOEXEC), slave in *slave (CLOEXEC), its number in *num. */
int open_pty(const char *ptmx_path, int *slave, int *num);
int set_raw(int fd, void *saved /* struct termios* */);
void copy_winsize(int from, int to);

/* ---- user.c ---- */
struct user_ids {
  uid_t uid;
  gid_t gid;
  size_t ngroups;
  gid_t groups[64];
  char home[256];
};
/* Resolves Docker -u SPEC against /etc/passwd and /etc/group of the current root. fail()s. */
void resolve_user(const char *spec, struct user_ids *out);

/* ---- process.c ---- */
struct proc_spec {
  char **argv;
  size_t argc;
  char **env;
  size_t envc;
  const char *cwd;
  const char *user;
  uint64_t caps;
  int nnp;
  int seccomp;
  int tty;
  int init;
};
void proc_spec_load(const struct conf *c, struct proc_spec *p);
int cap_last_cap(void);
/* setsid/tty → user → caps → nnp → cwd → seccomp. Leaves the resolved executable in *path_out. */
void setup_process(struct proc_spec *p, int slave, char *path_out, size_t cap);
/* execve; reports 126/127 like runc on failure. */
void exec_process(struct proc_spec *p, const char *path) __attribute__((noreturn));

/* ---- rootfs.c ---- */
void setup_rootfs(const struct conf *c, int tty, int *slave_out);

/* ---- modes ---- */
int mode_shim(int argc, char **argv);
int mode_init(int argc, char **argv);
int mode_exec(int argc, char **argv);

/* Sync handshake (init/exec side): sends "pid N" and the read end of a fresh CLOEXEC pipe over sync_fd;
 * afterwards errors go to the pipe, whose EOF tells the shim that execve happened. */
void sync_handshake(int sync_fd);
/* Sends the pty master to the shim over the console socket and waits for its ack (window size set). */
void send_console(int console, int master);
/* Tini-like PID 1: forks, child returns 0; parent never returns. */
void run_as_reaper(void);

#endif
