/* Modes `init` (PID 1 of the new namespaces) and `exec` (a new process in a running container). */
#include "tvinit.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

void sync_handshake(int sync_fd) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) fail_errno(EXIT_SETUP, "pipe");
  char self[32] = "0";
  ssize_t l = readlink("/proc/self", self, sizeof self - 1);
  self[l > 0 ? l : 1] = 0;
  char msg[64];
  int n = snprintf(msg, sizeof msg, "pid %s\n", self);
  /* The shim takes our host pid from SCM_CREDENTIALS (translated by the kernel into its pid namespace). */
  if (send_fd(sync_fd, msg, (size_t)n, p[0]) < 0) fail_errno(EXIT_SETUP, "cannot talk to the shim");
  close(p[0]);
  close(sync_fd);
  g_report_fd = p[1];
}

/* Everything we inherited (conf memfds, sealed copies, the shim's sockets) must not reach the user's program. */
static void cloexec_all(void) {
  if (syscall(SYS_close_range, 3, ~0u, CLOSE_RANGE_CLOEXEC) < 0) {
    for (int fd = 3; fd < 1024; fd++) fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
}

void run_as_reaper(void) {
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &old);
  pid_t child = fork();
  if (child < 0) fail_errno(EXIT_SETUP, "fork");
  if (child == 0) {
    sigprocmask(SIG_SETMASK, &old, NULL);
    setpgid(0, 0);
    if (isatty(0)) {
      signal(SIGTTOU, SIG_IGN);
      tcsetpgrp(0, getpid());
      signal(SIGTTOU, SIG_DFL);
    }
    return;
  }
  close(g_report_fd); /* the child reports exec errors; EOF must come from its execve */
  g_report_fd = -1;
  for (;;) {
    siginfo_t si;
    int sig = sigwaitinfo(&all, &si);
    if (sig < 0) continue;
    if (sig != SIGCHLD) {
      kill(child, sig);
      continue;
    }
    int st;
    pid_t w;
    while ((w = waitpid(-1, &st, WNOHANG)) > 0) {
      if (w != child) continue; /* an orphan re-parented to us: just reaped */
      if (WIFEXITED(st)) _exit(WEXITSTATUS(st));
      if (WIFSIGNALED(st)) _exit(128 + WTERMSIG(st));
    }
  }
}

int mode_init(int argc, char **argv) {
  g_prog = "tvinit init";
  if (argc < 3) fail(EXIT_SETUP, "usage: tvinit init CONF");
  ensure_sealed(argv);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  struct conf c;
  conf_load(&c, argv[2]);
  int sync_fd = (int)conf_int(&c, "sync_fd", -1);
  if (sync_fd >= 0) {
    g_report_fd = sync_fd;
    sync_handshake(sync_fd);
  }
  struct proc_spec p;
  proc_spec_load(&c, &p);
  if (p.tty && !conf_get(&c, "console_fd")) fail(EXIT_SETUP, "tty=1 needs console_fd=");
  cap_last_cap(); /* read while the host /proc is still there */
  int slave = -1;
  setup_rootfs(&c, p.tty, &slave);
  cloexec_all();
  char path[4096];
  setup_process(&p, slave, path, sizeof path);
  if (p.init) run_as_reaper();
  exec_process(&p, path);
}

int mode_exec(int argc, char **argv) {
  g_prog = "tvinit exec";
  if (argc < 3) fail(EXIT_SETUP, "usage: tvinit exec CONF");
  ensure_sealed(argv);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  struct conf c;
  conf_load(&c, argv[2]);
  int sync_fd = (int)conf_int(&c, "sync_fd", -1);
  if (sync_fd >= 0) {
    g_report_fd = sync_fd;
    sync_handshake(sync_fd);
  }
  struct proc_spec p;
  proc_spec_load(&c, &p);
  if (p.init) fail(EXIT_SETUP, "init=1 is only valid for the container init");
  int slave = -1;
  if (p.tty) {
    int console = (int)conf_int(&c, "console_fd", -1);
    if (console < 0) fail(EXIT_SETUP, "tty=1 needs console_fd=");
    int num;
    int master = open_pty("/dev/ptmx", &slave, &num);
    if (master < 0) fail_errno(EXIT_SETUP, "cannot allocate a pseudo-terminal");
    if (send_fd(console, "console\n", 8, master) < 0) fail_errno(EXIT_SETUP, "cannot send the console to the shim");
    close(master);
    close(console);
  }
  cloexec_all();
  char path[4096];
  setup_process(&p, slave, path, sizeof path);
  exec_process(&p, path);
}
