/* Error reporting, small file helpers, fd passing. */
#include "tvinit.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

int g_report_fd = -1;
const char *g_prog = "tvinit";
volatile unsigned long long *g_work_start = NULL;

unsigned long long monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

int write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

void report(int fd, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= sizeof buf) n = sizeof buf - 1;
  write_all(fd, buf, (size_t)n);
}

static void vfail(int code, int err, const char *fmt, va_list ap) {
  char msg[900];
  vsnprintf(msg, sizeof msg, fmt, ap);
  for (char *p = msg; *p; p++)
    if (*p == '\n') *p = ' '; /* one line, always */
  if (err) {
    size_t l = strlen(msg);
    snprintf(msg + l, sizeof msg - l, ": %s", strerror(err));
  }
  if (g_report_fd >= 0)
    report(g_report_fd, "error %d %s\n", code, msg);
  else
    report(2, "%s: %s\n", g_prog, msg);
  _exit(code);
}

void fail(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfail(code, 0, fmt, ap);
  va_end(ap);
  _exit(code);
}

void fail_errno(int code, const char *fmt, ...) {
  int err = errno;
  va_list ap;
  va_start(ap, fmt);
  vfail(code, err, fmt, ap);
  va_end(ap);
  _exit(code);
}

int write_file_atomic(const char *dir, const char *name, const char *data, size_t len) {
  char tmp[4096], dst[4096];
  snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
  snprintf(dst, sizeof dst, "%s/%s", dir, name);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  if (write_all(fd, data, len) < 0) {
    close(fd);
    unlink(tmp);
    return -1;
  }
  close(fd);
  if (rename(tmp, dst) < 0) {
    unlink(tmp);
    return -1;
  }
  return 0;
}

ssize_t read_small_file(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t len = 0;
  while (len + 1 < cap) {
    ssize_t r = read(fd, buf + len, cap - 1 - len);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    len += (size_t)r;
  }
  close(fd);
  buf[len] = 0;
  return (ssize_t)len;
}

void format_time(char *out, size_t cap, int trim) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  char frac[16];
  snprintf(frac, sizeof frac, "%09ld", ts.tv_nsec);
  if (trim) {
    int l = 9;
    while (l > 0 && frac[l - 1] == '0') frac[--l] = 0;
  }
  snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d%s%sZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
           tm.tm_min, tm.tm_sec, frac[0] ? "." : "", frac);
}

int send_fd(int sock, const char *msg, size_t len, int fd) {
  struct iovec iov = {.iov_base = (void *)msg, .iov_len = len};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
  if (fd >= 0) {
    memset(&u, 0, sizeof u);
    mh.msg_control = u.buf;
    mh.msg_controllen = sizeof u.buf;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));
  }
  for (;;) {
    ssize_t r = sendmsg(sock, &mh, MSG_NOSIGNAL);
    if (r < 0 && errno == EINTR) continue;
    return r < 0 ? -1 : 0;
  }
}

ssize_t recv_fd(int sock, char *buf, size_t cap, int *fd_out, pid_t *pid_out) {
  struct iovec iov = {.iov_base = buf, .iov_len = cap};
  union {
    char buf[CMSG_SPACE(sizeof(int) * 4) + CMSG_SPACE(sizeof(struct ucred))];
    struct cmsghdr align;
  } u;
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  ssize_t r;
  do r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
  while (r < 0 && errno == EINTR);
  if (fd_out) *fd_out = -1;
  if (r < 0) return r;
  for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
    if (cm->cmsg_level != SOL_SOCKET) continue;
    if (cm->cmsg_type == SCM_RIGHTS) {
      int nfd = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
      int fds[4];
      memcpy(fds, CMSG_DATA(cm), sizeof(int) * (size_t)(nfd > 4 ? 4 : nfd));
      for (int i = 0; i < nfd && i < 4; i++) {
        if (i == 0 && fd_out && *fd_out < 0)
          *fd_out = fds[i];
        else
          close(fds[i]);
      }
    } else if (cm->cmsg_type == SCM_CREDENTIALS && pid_out) {
      struct ucred cr;
      memcpy(&cr, CMSG_DATA(cm), sizeof cr);
      *pid_out = cr.pid;
    }
  }
  return r;
}

int move_fd_high(int fd, int min) {
  int n = fcntl(fd, F_DUPFD_CLOEXEC, min);
  if (n < 0) return -1;
  close(fd);
  return n;
}

void reset_signals(void) {
  sigset_t none;
  sigemptyset(&none);
  for (int s = 1; s < NSIG; s++) {
    if (s == SIGKILL || s == SIGSTOP) continue;
    signal(s, SIG_DFL);
  }
  sigprocmask(SIG_SETMASK, &none, NULL);
}
