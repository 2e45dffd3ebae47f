/* Mode `shim`: the host-side supervisor of one container process tree (or one exec). Forks the child that
 * joins the cgroups and execs argv (unshare … tvinit init / nsenter … tvinit exec), relays the start-up
 * handshake to Node, proxies the terminal or writes CRI logs, forwards signals, records the exit status,
 * and applies the restart policy. Tiny on purpose: no allocation in the loop, static buffers only. */
#include "crilog.h"
#include "tvinit.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

enum { RESTART_NO, RESTART_ALWAYS, RESTART_ON_FAILURE };

struct shim {
  char **argv;
  char **cgroups;
  char **cgroup_tasks;      /* per cgroup: its v1 `tasks` file, or NULL (see plan_cgroups) */
  int cgroup_v2;            /* index of the cgroup2 one, or -1 */
  char cgroup_v2_dir[4096];
  char **oom;
  const char *state_dir;
  int node_sync;
  int log_fd;
  int tty, stdin_on;
  int restart;
  long max_retries;
  int seal_fd, seal_mem;
  int conf_fd, conf_mem;
  int exec_mem;
  int sigfd;
  pid_t self;
  int stop; /* a terminating signal arrived while no container ran */
};

static struct cri_stream s_out = {.name = "stdout"}, s_err = {.name = "stderr"};

static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

static long oom_count(struct shim *s) {
  long total = 0;
  for (char **f = s->oom; *f; f++) {
    char buf[2048];
    if (read_small_file(*f, buf, sizeof buf) < 0) continue;
    char *p = strstr(buf, "oom_kill ");
    /* v1 memory.oom_control has "oom_kill_disable" too: find the line that is exactly "oom_kill N". */
    while (p && p != buf && p[-1] != '\n') p = strstr(p + 1, "oom_kill ");
    if (p) total += atol(p + 9);
  }
  return total;
}

static void write_state(struct shim *s, const char *name, const char *fmt, long v) {
  char buf[64];
  int n = snprintf(buf, sizeof buf, fmt, v);
  if (write_file_atomic(s->state_dir, name, buf, (size_t)n) < 0)
    report(2, "tvinit shim: cannot write %s/%s: %s\n", s->state_dir, name, strerror(errno));
}

static int stopped_flag(struct shim *s) {
  char p[4096];
  snprintf(p, sizeof p, "%s/stopped", s->state_dir);
  return access(p, F_OK) == 0;
}

static int resolve_in_path(const char *name, char *out, size_t cap) {
  if (strchr(name, '/')) {
    snprintf(out, cap, "%s", name);
    return 0;
  }
  const char *path = getenv("PATH");
  if (!path) path = "/usr/sbin:/usr/bin:/sbin:/bin";
  for (const char *s = path;;) {
    const char *e = strchr(s, ':');
    size_t l = e ? (size_t)(e - s) : strlen(s);
    snprintf(out, cap, "%.*s/%s", (int)l, s, name);
    if (l && access(out, X_OK) == 0) return 0;
    if (!e) return -1;
    s = e + 1;
  }
}

/* In the child: put src fds at fixed numbers without clobbering each other. */
static void place_fds(int (*map)[2], int n) {
  for (int i = 0; i < n; i++)
    if (map[i][0] >= 0) {
      map[i][0] = fcntl(map[i][0], F_DUPFD_CLOEXEC, 100);
      if (map[i][0] < 0) fail_errno(EXIT_SETUP, "dup");
    }
  for (int i = 0; i < n; i++)
    if (map[i][0] >= 0 && dup2(map[i][0], map[i][1]) < 0) fail_errno(EXIT_SETUP, "dup2");
}

/* Joining the cgroups. Writing a pid to cgroup.procs takes the kernel's global cgroup_threadgroup_rwsem for
 * writing, which waits for an RCU grace period: 5–17 ms measured on this 2-core host, the biggest single cost of
 * a container start. Two ways around it, both exact:
 * - a v1 hierarchy (its directory has a `tasks` file) is joined by the child writing "0" to `tasks`: that moves
 *   the calling thread only, for which the kernel skips the global lock, and the child is single-threaded (a
 *   fresh fork of this single-threaded shim), so the thread is the whole process;
 * - the cgroup2 directory (at most one: hybrid's /unified, or the only tree on v2) is entered at fork time with
 *   clone3(CLONE_INTO_CGROUP) (see fork_child), which needs no migration at all.
 * Anything left (clone3 refused, e.g. a kernel older than 5.7) is joined the classic way, through cgroup.procs. */
/* Sorts the cgroups once, at start-up: a v1 hierarchy's `tasks` path (NULL where the directory has none), and
 * the one cgroup2 directory, if any, for clone3. */
static void plan_cgroups(struct shim *s) {
  size_t n = 0;
  while (s->cgroups[n]) n++;
  s->cgroup_tasks = calloc(n + 1, sizeof *s->cgroup_tasks);
  if (!s->cgroup_tasks) fail(EXIT_SETUP, "out of memory");
  s->cgroup_v2 = -1;
  for (size_t i = 0; i < n; i++) {
    const char *f = s->cgroups[i], *slash = strrchr(f, '/');
    if (!slash || strcmp(slash + 1, "cgroup.procs") != 0) continue;
    char tasks[4096];
    int len = snprintf(tasks, sizeof tasks, "%.*s/tasks", (int)(slash - f), f);
    if (len > 0 && (size_t)len < sizeof tasks && access(tasks, W_OK) == 0) {
      if (!(s->cgroup_tasks[i] = strdup(tasks))) fail(EXIT_SETUP, "out of memory");
    } else if (s->cgroup_v2 < 0 && (size_t)(slash - f) < sizeof s->cgroup_v2_dir) {
      snprintf(s->cgroup_v2_dir, sizeof s->cgroup_v2_dir, "%.*s", (int)(slash - f), f);
      s->cgroup_v2 = (int)i;
    }
  }
}

static void join_cgroups(struct shim *s, int entered_v2) {
  char pid[32];
  int pl = snprintf(pid, sizeof pid, "%d\n", getpid());
  for (size_t i = 0; s->cgroups[i]; i++) {
    if (entered_v2 && (int)i == s->cgroup_v2) continue;
    const char *tasks = s->cgroup_tasks[i];
    const char *path = tasks ? tasks : s->cgroups[i];
    const char *what = tasks ? "0\n" : pid;
    size_t wl = tasks ? 2 : (size_t)pl;
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, what, wl) != (ssize_t)wl) fail_errno(EXIT_SETUP, "cannot join cgroup %s", s->cgroups[i]);
    close(fd);
  }
}

/* fork(), straight into the cgroup2 directory when there is one and the kernel has clone3; *entered_v2 says
 * whether the child is already there. */
static pid_t fork_child(struct shim *s, int *entered_v2) {
  *entered_v2 = 0;
  if (s->cgroup_v2 >= 0) {
    int cg = open(s->cgroup_v2_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cg >= 0) { /* else the classic join reports the error */
      struct {
        uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size,
            cgroup;
      } args = {.flags = 0x200000000ULL /* CLONE_INTO_CGROUP */, .exit_signal = SIGCHLD, .cgroup = (uint64_t)cg};
      long pid = syscall(SYS_clone3, &args, sizeof args);
      if (pid == 0) {
        *entered_v2 = 1;
        return 0;
      }
      close(cg);
      if (pid > 0) return (pid_t)pid;
      /* no clone3 here, or the kernel refused: plain fork, and the cgroup.procs write says why */
    }
  }
  return fork();
}

static void child(struct shim *s, int entered_v2, int sync_child, int console_child, int out_w, int err_w) {
  g_report_fd = sync_child;
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != s->self) _exit(EXIT_SETUP);
  /* Own process group: the terminal's ^C reaches the shim (which forwards it), not unshare/nsenter. */
  setpgid(0, 0);
  join_cgroups(s, entered_v2);
  if (s->log_fd >= 0 || !s->stdin_on) {
    int nul = open("/dev/null", O_RDONLY);
    if (nul < 0 || dup2(nul, 0) < 0) fail_errno(EXIT_SETUP, "/dev/null");
    close(nul);
  }
  if (s->log_fd >= 0 && (dup2(out_w, 1) < 0 || dup2(err_w, 2) < 0)) fail_errno(EXIT_SETUP, "dup2 log pipes");
  int map[4][2] = {{sync_child, TVINIT_SYNC_FD}, {console_child, TVINIT_CONSOLE_FD}, {s->seal_mem, s->seal_fd}, {s->conf_mem, s->conf_fd}};
  place_fds(map, 4);
  reset_signals();
  extern char **environ;
  if (s->exec_mem >= 0)
    fexecve(s->exec_mem, s->argv, environ);
  else
    execvp(s->argv[0], s->argv);
  fail_errno(EXIT_SETUP, "cannot execute %s", s->argv[0]);
}

/* Appends complete lines of `buf` starting with "error " to err (first one only). */
static void scan_errors(const char *buf, char *err, size_t cap) {
  for (const char *l = buf; l && *l;) {
    const char *nl = strchr(l, '\n');
    size_t len = nl ? (size_t)(nl - l) : strlen(l);
    if (!err[0] && len > 6 && strncmp(l, "error ", 6) == 0) snprintf(err, cap, "%.*s", (int)len, l);
    l = nl ? nl + 1 : NULL;
  }
}

struct run_result {
  int status;
  pid_t init_pid;
  int start_error; /* init/child reported an error before exec */
};

static void relay(struct shim *s, const char *line) {
  if (s->node_sync >= 0) report(s->node_sync, "%s\n", line);
}

static int drain(int fd, struct shim *s, struct cri_stream *cs, int to_stdout) {
  char buf[8192];
  ssize_t r = read(fd, buf, sizeof buf);
  if (r < 0 && (errno == EINTR || errno == EAGAIN)) return 1;
  if (r <= 0) {
    if (cs && s->log_fd >= 0) cri_flush(cs, s->log_fd);
    return 0;
  }
  if (s->log_fd >= 0 && cs)
    cri_feed(cs, s->log_fd, buf, (size_t)r);
  else if (to_stdout)
    write_all(1, buf, (size_t)r);
  return 1;
}

static struct run_result run_once(struct shim *s) {
  struct run_result res = {.status = -1, .init_pid = 0, .start_error = 0};
  int sync[2], console[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sync) < 0) fail_errno(EXIT_SETUP, "socketpair");
  int one = 1;
  setsockopt(sync[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
  if (s->tty && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, console) < 0) fail_errno(EXIT_SETUP, "socketpair");
  if (s->log_fd >= 0 && (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)) fail_errno(EXIT_SETUP, "pipe");
  int entered_v2;
  pid_t pid = fork_child(s, &entered_v2);
  if (pid < 0) fail_errno(EXIT_SETUP, "fork");
  if (pid == 0) child(s, entered_v2, sync[1], console[1], out[1], err[1]);
  close(sync[1]);
  if (console[1] >= 0) close(console[1]);
  if (out[1] >= 0) close(out[1]), close(err[1]);

  /* 1. `pid N` + the exec pipe (or an error, or EOF when the child failed before init ran). */
  char msg[2048] = "", errline[1024] = "";
  int master = -1;
  size_t ml = 0;
  int exec_pipe = -1;
  pid_t cred_pid = 0;
  while (exec_pipe < 0 && ml < sizeof msg - 1) {
    int fd = -1;
    pid_t cp = 0;
    ssize_t r = recv_fd(sync[0], msg + ml, sizeof msg - 1 - ml, &fd, &cp);
    if (r <= 0) break;
    ml += (size_t)r;
    msg[ml] = 0;
    if (fd >= 0) {
      exec_pipe = fd;
      cred_pid = cp;
    }
  }
  close(sync[0]);
  scan_errors(msg, errline, sizeof errline);
  if (exec_pipe >= 0) {
    pid_t init_pid = cred_pid;
    if (init_pid <= 0) {
      const char *p = strstr(msg, "pid ");
      init_pid = p ? atoi(p + 4) : 0;
    }
    res.init_pid = init_pid;
    write_state(s, "pid", "%ld\n", init_pid);
    char line[64];
    snprintf(line, sizeof line, "pid %d", init_pid);
    relay(s, line);
    /* 2. Errors until EOF: EOF = execve of the user's program happened (the pipe is CLOEXEC). With a tty
     * the console master arrives meanwhile; init waits for our ack, so the window size is set before the
     * user's program can ask for it. */
    char ebuf[2048];
    size_t el = 0;
    for (;;) {
      struct pollfd pf[2] = {{.fd = exec_pipe, .events = POLLIN}, {.fd = console[0], .events = POLLIN}};
      int np = (console[0] >= 0 && master < 0) ? 2 : 1;
      if (poll(pf, (nfds_t)np, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (np == 2 && pf[1].revents) {
        char b[16];
        if (recv_fd(console[0], b, sizeof b, &master, NULL) <= 0 || master < 0) {
          close(console[0]);
          console[0] = -1;
        } else {
          if (s->log_fd < 0) {
            if (isatty(0))
              copy_winsize(0, master);
            else if (isatty(1))
              copy_winsize(1, master);
          }
          write_all(console[0], "k", 1);
        }
      }
      if (!pf[0].revents) continue;
      ssize_t r = read(exec_pipe, ebuf + el, sizeof ebuf - 1 - el);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      el += (size_t)r;
      if (el >= sizeof ebuf - 1) break;
    }
    ebuf[el] = 0;
    close(exec_pipe);
    scan_errors(ebuf, errline, sizeof errline);
  } else if (!errline[0]) {
    snprintf(errline, sizeof errline, "error %d container init did not start", EXIT_SETUP);
  }
  if (errline[0]) {
    res.start_error = 1;
    relay(s, errline);
    if (s->node_sync < 0 && s->log_fd < 0) report(2, "tvinit: %s\n", errline + 6 + strspn(errline + 6, "0123456789 "));
  }
  if (s->node_sync >= 0) close(s->node_sync);
  s->node_sync = -1;
  g_report_fd = -1;

  /* 3. Console, terminal, logs, signals until the child (unshare/nsenter) exits. */
  if (res.start_error && master >= 0) close(master), master = -1;
  if (console[0] >= 0) close(console[0]);
  struct termios saved;
  int raw = 0;
  int fg = s->log_fd < 0;
  if (master >= 0 && fg) {
    if (s->stdin_on && isatty(0) && set_raw(0, &saved) == 0) raw = 1;
  }
  int in_open = master >= 0 && fg && s->stdin_on;
  int master_open = master >= 0, out_open = out[0] >= 0, err_open = err[0] >= 0;
  int exited = 0;
  struct timespec exited_at = {0, 0};
  for (;;) {
    struct pollfd p[5];
    int n = 0, i_sig = -1, i_m = -1, i_in = -1, i_out = -1, i_err = -1;
    if (!exited) p[i_sig = n++] = (struct pollfd){.fd = s->sigfd, .events = POLLIN};
    if (master_open) p[i_m = n++] = (struct pollfd){.fd = master, .events = POLLIN};
    if (in_open && !exited) p[i_in = n++] = (struct pollfd){.fd = 0, .events = POLLIN};
    if (out_open) p[i_out = n++] = (struct pollfd){.fd = out[0], .events = POLLIN};
    if (err_open) p[i_err = n++] = (struct pollfd){.fd = err[0], .events = POLLIN};
    if (n == 0) break;
    /* After the exit, whatever is still buffered is drained; a background process that keeps the pty or
     * the pipes open (exec'd daemons) must not keep us alive. */
    int r = poll(p, (nfds_t)n, exited ? 100 : -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (r == 0) break;
    if (exited) {
      /* ...nor a background process that keeps writing: drain for at most 2 s after the exit. */
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      if (now.tv_sec - exited_at.tv_sec >= 2) break;
    }
    if (i_sig >= 0 && p[i_sig].revents) {
      struct signalfd_siginfo si;
      while (read(s->sigfd, &si, sizeof si) == sizeof si) {
        int sig = (int)si.ssi_signo;
        if (sig == SIGCHLD) {
          int st;
          if (waitpid(pid, &st, WNOHANG) == pid) {
            res.status = st;
            exited = 1;
            clock_gettime(CLOCK_MONOTONIC, &exited_at);
          }
          while (waitpid(-1, NULL, WNOHANG) > 0) {
          }
        } else if (sig == SIGWINCH) {
          if (master >= 0) copy_winsize(isatty(0) ? 0 : 1, master);
        } else if (res.init_pid > 0) {
          kill(res.init_pid, sig);
        } else {
          kill(pid, SIGKILL);
        }
      }
    }
    if (i_m >= 0 && p[i_m].revents) master_open = drain(master, s, &s_out, fg);
    if (i_in >= 0 && p[i_in].revents) {
      char buf[4096];
      ssize_t rr = read(0, buf, sizeof buf);
      if (rr > 0)
        write_all(master, buf, (size_t)rr);
      else if (rr == 0 || errno != EINTR)
        in_open = 0;
    }
    if (i_out >= 0 && p[i_out].revents) out_open = drain(out[0], s, &s_out, 0);
    if (i_err >= 0 && p[i_err].revents) err_open = drain(err[0], s, &s_err, 0);
  }
  if (s->log_fd >= 0) cri_flush(&s_out, s->log_fd), cri_flush(&s_err, s->log_fd);
  if (raw) tcsetattr(0, TCSADRAIN, &saved);
  if (master >= 0) close(master);
  if (out[0] >= 0) close(out[0]), close(err[0]);
  if (!exited) {
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    res.status = st;
  }
  return res;
}

static int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return EXIT_SETUP;
}

/* Sleeps ms, returning early (1) when a terminating signal arrives. */
static int backoff_sleep(struct shim *s, long ms) {
  struct timespec end, now;
  clock_gettime(CLOCK_MONOTONIC, &end);
  end.tv_sec += ms / 1000;
  end.tv_nsec += (ms % 1000) * 1000000;
  if (end.tv_nsec >= 1000000000) end.tv_sec++, end.tv_nsec -= 1000000000;
  for (;;) {
    clock_gettime(CLOCK_MONOTONIC, &now);
    long left = (end.tv_sec - now.tv_sec) * 1000 + (end.tv_nsec - now.tv_nsec) / 1000000;
    if (left <= 0) return 0;
    struct pollfd p = {.fd = s->sigfd, .events = POLLIN};
    if (poll(&p, 1, (int)left) > 0) {
      struct signalfd_siginfo si;
      while (read(s->sigfd, &si, sizeof si) == sizeof si)
        if (si.ssi_signo != SIGCHLD && si.ssi_signo != SIGWINCH) return 1;
    }
  }
}

int mode_shim(int argc, char **argv) {
  g_prog = "tvinit shim";
  if (argc < 3) fail(EXIT_SETUP, "usage: tvinit shim CONF");
  /* Nothing we hold may leak into the container: everything inherited becomes close-on-exec. */
  syscall(SYS_close_range, 3, ~0u, CLOSE_RANGE_CLOEXEC);
  struct conf c;
  conf_load(&c, argv[2]);
  struct shim s = {.node_sync = (int)conf_int(&c, "sync_fd", -1), .log_fd = -1, .seal_mem = -1, .conf_mem = -1,
                   .exec_mem = -1, .self = getpid()};
  g_report_fd = s.node_sync;
  size_t n;
  s.argv = conf_all(&c, "argv", &n);
  if (n == 0) fail(EXIT_SETUP, "shim: argv= is required");
  s.cgroups = conf_all(&c, "cgroup_procs", NULL);
  plan_cgroups(&s);
  s.oom = conf_all(&c, "oom_file", NULL);
  s.state_dir = conf_get(&c, "state_dir");
  if (!s.state_dir) fail(EXIT_SETUP, "shim: state_dir= is required");
  s.tty = conf_bool(&c, "tty");
  s.stdin_on = conf_bool(&c, "stdin");
  const char *log = conf_get(&c, "log");
  if (log) {
    s.log_fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (s.log_fd < 0) fail_errno(EXIT_SETUP, "cannot open log %s", log);
    s.stdin_on = 0;
  }
  const char *rp = conf_get(&c, "restart");
  if (rp && log) {
    if (strcmp(rp, "always") == 0 || strcmp(rp, "unless-stopped") == 0)
      s.restart = RESTART_ALWAYS;
    else if (strncmp(rp, "on-failure", 10) == 0) {
      s.restart = RESTART_ON_FAILURE;
      if (rp[10] == ':') s.max_retries = atol(rp + 11);
    } else if (strcmp(rp, "no") != 0)
      fail(EXIT_SETUP, "invalid restart policy %s", rp);
  }
  s.seal_fd = (int)conf_int(&c, "seal_fd", -1);
  if (s.seal_fd >= 0 && (s.seal_mem = sealed_copy("/proc/self/exe", "tvinit")) < 0)
    fail_errno(EXIT_SETUP, "cannot make a sealed copy of tvinit");
  s.conf_fd = (int)conf_int(&c, "conf_fd", -1);
  const char *cf = conf_get(&c, "conf");
  if (s.conf_fd >= 0) {
    if (!cf) fail(EXIT_SETUP, "conf_fd= needs conf=");
    if ((s.conf_mem = sealed_copy(cf, "tvinit-conf")) < 0) fail_errno(EXIT_SETUP, "cannot load %s", cf);
  }
  if (conf_bool(&c, "exec_sealed")) {
    char path[4096];
    if (resolve_in_path(s.argv[0], path, sizeof path) < 0) fail(EXIT_SETUP, "%s: command not found", s.argv[0]);
    if ((s.exec_mem = sealed_copy(path, s.argv[0])) < 0) fail_errno(EXIT_SETUP, "cannot make a sealed copy of %s", path);
  }
  write_state(&s, "shim.pid", "%ld\n", getpid());

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGWINCH);
  for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) sigaddset(&set, forwarded[i]);
  sigprocmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
  s.sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (s.sigfd < 0) fail_errno(EXIT_SETUP, "signalfd");

  long restarts = 0, backoff = 100;
  struct run_result r;
  char started[64], finished[64];
  long oom_before = 0;
  for (;;) {
    oom_before = oom_count(&s); /* oomKilled describes the last run */
    format_time(started, sizeof started, 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    r = run_once(&s);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    format_time(finished, sizeof finished, 0);
    int code = exit_code(r.status);
    int again = s.restart == RESTART_ALWAYS || (s.restart == RESTART_ON_FAILURE && code != 0 &&
                                                 (s.max_retries <= 0 || restarts < s.max_retries));
    if (!again || stopped_flag(&s)) break;
    if (t1.tv_sec - t0.tv_sec >= 10) backoff = 100; /* ran long enough: start over, as Docker does */
    if (backoff_sleep(&s, backoff) || stopped_flag(&s)) break;
    backoff = backoff * 2 > 10000 ? 10000 : backoff * 2;
    restarts++;
    write_state(&s, "restarts", "%ld\n", restarts);
  }
  int code = exit_code(r.status);
  int oom = oom_count(&s) > oom_before;
  char json[512];
  char sig[16] = "null";
  /* Only a real death by signal (the ns parent re-raises PID 1's); an `exit 137` stays signal null. */
  if (WIFSIGNALED(r.status)) snprintf(sig, sizeof sig, "%d", WTERMSIG(r.status));
  int jl = snprintf(json, sizeof json,
                    "{\"exitCode\":%d,\"signal\":%s,\"oomKilled\":%s,\"startedAt\":\"%s\",\"finishedAt\":\"%s\","
                    "\"restartCount\":%ld}\n",
                    code, sig, oom ? "true" : "false", started, finished, restarts);
  if (write_file_atomic(s.state_dir, "exit", json, (size_t)jl) < 0)
    report(2, "tvinit shim: cannot write %s/exit: %s\n", s.state_dir, strerror(errno));
  /* Detached containers: nobody waits for us, so the host resources (cgroups, network) are released by the
   * on_exit command (tvctl reap), which replaces this process once the exit is recorded. */
  size_t on_exit_n = 0;
  char **on_exit = conf_all(&c, "on_exit", &on_exit_n);
  if (on_exit_n > 0) {
    execv(on_exit[0], on_exit);
    report(2, "tvinit shim: cannot run %s: %s\n", on_exit[0], strerror(errno));
  }
  return code;
}
