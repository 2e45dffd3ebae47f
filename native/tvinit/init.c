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
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

void send_console(int console, int master) {
  if (send_fd(console, "console\n", 8, master) < 0) fail_errno(EXIT_SETUP, "cannot send the console to the shim");
  close(master);
  /* Wait for the shim's ack: it has set the window size by then. EOF (no shim) is fine too. */
  char ack;
  while (read(console, &ack, 1) < 0 && errno == EINTR) {
  }
  close(console);
}

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
  /* The child reports exec errors (EOF must come from its execve); PID 1 itself needs no fd beyond stdio. */
  syscall(SYS_close_range, 3, ~0u, 0);
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

/* After unshare(CLONE_NEWPID) the caller stays in its pid namespace; pid_for_children names the new one,
 * and cannot even be opened (ENOENT) until that namespace has its PID 1. */
static int children_in_new_pidns(void) {
  struct stat self, kids;
  if (stat("/proc/self/ns/pid_for_children", &kids) < 0) return errno == ENOENT;
  if (stat("/proc/self/ns/pid", &self) < 0) return 0;
  return self.st_dev != kids.st_dev || self.st_ino != kids.st_ino;
}

/* `unshare --pid` without --fork execs us in the host pid namespace with pid_for_children = the new one: we
 * fork PID 1 and stay as its parent, reporting its exact status (util-linux unshare --fork turns a SIGKILLed
 * child into exit 1: it cannot re-raise SIGKILL). Returns in the child. */
static void fork_pid1(void) {
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &old);
  /* Work times: PID 1 (or, with init=1, its child) stamps CLOCK_MONOTONIC into this page just before the
   * user's execve, when the conf's env has TVCTL_WORK_TIMES=1; we stamp the end when PID 1 is reaped and
   * write both as the last line on the container's stderr. The pages survive PID 1's execve. */
  void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (page != MAP_FAILED) g_work_start = page;
  pid_t child = fork();
  if (child < 0) fail_errno(EXIT_SETUP, "fork");
  if (child == 0) {
    /* If this parent dies, PID 1 dies, and with it the whole pid namespace (unshare --kill-child). */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    sigprocmask(SIG_SETMASK, &old, NULL);
    return;
  }
  syscall(SYS_close_range, 3, ~0u, 0);
  int st;
  for (;;) {
    if (waitpid(child, &st, 0) == child) break;
    if (errno != EINTR) _exit(EXIT_SETUP);
  }
  if (g_work_start && *g_work_start) {
    unsigned long long end = monotonic_ns();
    dprintf(2, "\n@@tvctl-work:%llu:%llu@@\n", *g_work_start, end);
  }
  if (WIFEXITED(st)) _exit(WEXITSTATUS(st));
  int sig = WTERMSIG(st);
  struct rlimit no_core = {0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  signal(sig, SIG_DFL);
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, sig);
  sigprocmask(SIG_UNBLOCK, &one, NULL);
  kill(getpid(), sig);
  _exit(128 + sig);
}

/* PID 1's command line is visible in the container: do not show host paths (the conf file) there. */
static void hide_args(int argc, char **argv) {
  char *start = argv[0], *end = argv[argc - 1] + strlen(argv[argc - 1]);
  memset(start, 0, (size_t)(end - start));
  static const char title[] = "tvinit\0init";
  if ((size_t)(end - start) >= sizeof title) memcpy(start, title, sizeof title);
  prctl(PR_SET_NAME, "tvinit", 0, 0, 0);
}

int mode_init(int argc, char **argv) {
  g_prog = "tvinit init";
  if (argc < 3) fail(EXIT_SETUP, "usage: tvinit init CONF");
  ensure_sealed(argv);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (children_in_new_pidns()) fork_pid1();
  if (getpid() != 1) fail(EXIT_SETUP, "tvinit init must run as PID 1 of a new pid namespace (unshare --pid)");
  struct conf c;
  conf_load(&c, argv[2]);
  hide_args(argc, argv);
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
  /* nsenter (our parent) dies with the shim; the exec'd process goes with it. Kept across execve. */
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
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
    send_console(console, master);
  }
  cloexec_all();
  char path[4096];
  setup_process(&p, slave, path, sizeof path);
  exec_process(&p, path);
}
