/*
 * tvctl-guestinit: PID 1 of a `tvctl vm run` guest. The host puts it in the initramfs as /.tvctl-init and
 * boots the kernel with `rdinit=/.tvctl-init -- CONFIG`, CONFIG being base64url of NUL-separated records:
 *   "tvctl1"  version tag (first)        n<nonce>  marker nonce        h<hostname>
 *   w<cwd>    working directory          e<K=V>    environment (each)  a<arg>  argv (each, in order)
 *   u<uid:gid> numeric user              o<path>   stdout device       r<path> stderr device
 *   m<path>   marker device
 * It mounts proc, sys, devtmpfs (+ pts, shm), sets hostname, env and cwd, runs the command with stdout and
 * stderr on their own raw serial ports, and reports on the marker port (the kernel console):
 *   @@tvctl:<nonce>:init <ms>@@    when it starts (guest CLOCK_BOOTTIME, ms)
 *   @@tvctl:<nonce>:exit <status> <ms>@@   when the command has ended (Docker's status: code or 128+signal)
 *   @@tvctl:<nonce>:fail <message>@@       when it could not set the guest up
 * then powers the guest off. The nonce keeps command output from forging a marker by accident.
 *
 * With TVCTL_WORK_TIMES=1 among the environment records (tvctl compare sets it; it is not passed on to the
 * command), the command's own time is reported as the last line of its stderr port:
 *   @@tvctl-work:<start ns>:<end ns>@@     guest CLOCK_MONOTONIC just before execve, and when waitpid returned
 * On the stderr port, not the marker port, so it reaches the host as every container's does (tvinit writes
 * the same line on the container's stderr) and `vm run` needs no part in it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <grp.h>
#include <unistd.h>

#define MAX_ITEMS 4096

static const char *nonce = "-";
static int marker_fd = -1;

#define WORK_TIMES_ENV "TVCTL_WORK_TIMES=1"

static unsigned long long monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

static long uptime_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void marker(const char *fmt, ...) {
  char body[512], line[640];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(body, sizeof body, fmt, ap);
  va_end(ap);
  int n = snprintf(line, sizeof line, "\n@@tvctl:%s:%s@@\n", nonce, body);
  if (n > (int)sizeof line - 1) n = sizeof line - 1;
  int fd = marker_fd >= 0 ? marker_fd : 2;
  for (int off = 0; off < n;) {
    ssize_t w = write(fd, line + off, n - off);
    if (w <= 0) break;
    off += w;
  }
  tcdrain(fd);
}

static void power_off(void) {
  sync();
  reboot(RB_POWER_OFF);
  reboot(RB_AUTOBOOT); /* QEMU runs with -no-reboot: a reset ends it too */
  for (;;) pause();
}

static void fail(const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  marker("fail %s", msg);
  power_off();
}

static int b64val(int c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-' || c == '+') return 62;
  if (c == '_' || c == '/') return 63;
  return -1;
}

/* base64url (no padding needed) → bytes; returns length or -1. */
static long b64decode(const char *in, char *out) {
  long n = 0;
  unsigned acc = 0;
  int bits = 0;
  for (; *in && *in != '='; in++) {
    int v = b64val((unsigned char)*in);
    if (v < 0) return -1;
    acc = (acc << 6) | (unsigned)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (char)((acc >> bits) & 0xff);
    }
  }
  return n;
}

static int open_raw(const char *path) {
  int fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return -1;
  struct termios t;
  if (tcgetattr(fd, &t) == 0) {
    cfmakeraw(&t);
    cfsetspeed(&t, B115200);
    tcsetattr(fd, TCSANOW, &t);
  }
  return fd;
}

static void mount_quiet(const char *src, const char *target, const char *type, unsigned long flags, const char *data) {
  mkdir(target, 0755);
  mount(src, target, type, flags, data);
}

static void mkdir_p(const char *path) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    mkdir(buf, 0755);
    *p = '/';
  }
  mkdir(buf, 0755);
}

int main(int argc, char **argv) {
  marker_fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
  if (argc < 2) fail("no configuration on the kernel command line");

  static char cfg[16384];
  long len = b64decode(argv[1], cfg);
  if (len < 0 || len >= (long)sizeof cfg) fail("configuration is not valid base64url");
  cfg[len] = 0;

  static char *args[MAX_ITEMS + 1], *envs[MAX_ITEMS + 1];
  int nargs = 0, nenvs = 0;
  const char *hostname = NULL, *cwd = NULL, *user = NULL;
  const char *out_dev = "/dev/ttyS1", *err_dev = "/dev/ttyS2", *mark_dev = NULL;
  int version_ok = 0, work_times = 0;
  for (char *p = cfg; p < cfg + len; p += strlen(p) + 1) {
    if (!version_ok) {
      if (strcmp(p, "tvctl1") != 0) fail("unknown configuration version");
      version_ok = 1;
      continue;
    }
    char *v = p + 1;
    switch (*p) {
      case 'n': nonce = v; break;
      case 'h': hostname = v; break;
      case 'w': cwd = v; break;
      case 'u': user = v; break;
      case 'o': out_dev = v; break;
      case 'r': err_dev = v; break;
      case 'm': mark_dev = v; break;
      case 'e':
        if (strcmp(v, WORK_TIMES_ENV) == 0) work_times = 1;
        else if (nenvs < MAX_ITEMS) envs[nenvs++] = v;
        break;
      case 'a': if (nargs < MAX_ITEMS) args[nargs++] = v; break;
      default: break;
    }
  }
  args[nargs] = NULL;
  envs[nenvs] = NULL;
  unlink(argv[0]); /* leave the guest's root file system exactly the image's */

  mount_quiet("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  mount_quiet("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  mount_quiet("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
  mount_quiet("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620");
  mount_quiet("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");

  if (mark_dev) {
    int fd = open_raw(mark_dev);
    if (fd >= 0) marker_fd = fd;
  } else if (marker_fd < 0) {
    marker_fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
  }
  marker("init %ld", uptime_ms());
  if (nargs == 0) fail("no command to run");

  int out = open_raw(out_dev);
  if (out < 0) fail("cannot open %s: %s", out_dev, strerror(errno));
  int err = open_raw(err_dev);
  if (err < 0) err = out;
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);

  if (hostname && sethostname(hostname, strlen(hostname)) != 0) fail("sethostname: %s", strerror(errno));
  if (cwd && *cwd) {
    mkdir_p(cwd); /* Docker creates a missing WorkingDir */
    if (chdir(cwd) != 0) fail("chdir %s: %s", cwd, strerror(errno));
  }

  /* The child stamps its start into a shared page right before execve, after its own set-up. */
  volatile unsigned long long *work_start = NULL;
  if (work_times) {
    void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m != MAP_FAILED) work_start = m;
  }

  pid_t child = fork();
  if (child < 0) fail("fork: %s", strerror(errno));
  if (child == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    setsid();
    if (devnull >= 0) dup2(devnull, 0);
    dup2(out, 1);
    dup2(err, 2);
    if (user && *user) {
      unsigned uid = 0, gid = 0;
      int k = sscanf(user, "%u:%u", &uid, &gid);
      if (k < 1) {
        dprintf(2, "tvctl-init: bad user \"%s\"\n", user);
        _exit(126);
      }
      if (k == 1) gid = uid;
      if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
        dprintf(2, "tvctl-init: cannot switch to user %s: %s\n", user, strerror(errno));
        _exit(126);
      }
    }
    clearenv();
    for (int i = 0; i < nenvs; i++) putenv(envs[i]);
    if (work_start) *work_start = monotonic_ns();
    execvp(args[0], args);
    int e = errno;
    dprintf(2, "tvctl-init: exec %s: %s\n", args[0], strerror(e));
    _exit(e == ENOENT || e == ENOTDIR ? 127 : 126);
  }

  int status = 0;
  for (;;) {
    int st;
    pid_t p = waitpid(-1, &st, 0);
    if (p < 0 && errno == EINTR) continue;
    if (p < 0) fail("waitpid: %s", strerror(errno));
    if (p == child) {
      status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      break;
    }
  }
  unsigned long long work_end = monotonic_ns();
  long end = uptime_ms();
  if (work_start && *work_start) dprintf(err, "\n@@tvctl-work:%llu:%llu@@\n", *work_start, work_end);
  tcdrain(out);
  if (err != out) tcdrain(err);
  marker("exit %d %ld", status, end);
  power_off();
  return 0;
}
