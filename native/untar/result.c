/* The one result line, and the errors that end the extraction (see README.md, "Result line"). */
#include "untar.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * One result line, from whichever thread (or signal handler) gets there first: the others wait for the
 * process to end, so an error from one thread is never followed by another thread's. A lock-free atomic,
 * so that signal handlers may claim it too.
 */
static atomic_int said;

/* set once, before the threads start (input.c, --pipe-rest) */
static const char *(*error_hook)(void *ctx, const char *code);
static void *error_hook_ctx;

void claim_result(void) {
  if (atomic_exchange(&said, 1))
    for (;;) pause();
}

void set_error_hook(const char *(*hook)(void *ctx, const char *code), void *ctx) {
  error_hook = hook;
  error_hook_ctx = ctx;
}

void finish_error(const char *code, const char *fmt, ...) {
  claim_result();
  if (error_hook) code = error_hook(error_hook_ctx, code);
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  for (char *p = msg; *p; p++)
    if (*p == '\n') *p = ' ';
  printf("error %s %s\n", code, msg);
  fflush(stdout);
  _exit(0);
}

void sys_fail(const char *op, const char *rel) {
  int e = errno;
  if (e == ENOSPC || e == EDQUOT) finish_error("NO_SPACE", "no space left on device while unpacking a layer");
  finish_error("BAD_LAYER", "unpacking layer failed: %s \"%s\": %s", op, rel, strerror(e));
}

void tar_fail(const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  finish_error("BAD_TAR", "layer is not a valid tar archive: %s", msg);
}

void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) finish_error("BAD_LAYER", "unpacking layer failed: out of memory");
  return p;
}

void *xrealloc(void *p, size_t n) {
  p = realloc(p, n ? n : 1);
  if (!p) finish_error("BAD_LAYER", "unpacking layer failed: out of memory");
  return p;
}

void write_all(int fd, const void *p, size_t n, const char *rel) {
  const unsigned char *c = p;
  while (n > 0) {
    ssize_t w = write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) sys_fail("write", rel);
    c += w;
    n -= (size_t)w;
  }
}

/* (the JS side cuts names at 40/60 characters in its messages too) */
const char *clip(const char *s, size_t n, char *out) {
  size_t l = strnlen(s, n);
  memcpy(out, s, l);
  out[l] = 0;
  return out;
}

void say_fd(int fd, const char *line) {
  for (size_t n = strlen(line); n > 0;) {
    ssize_t w = write(fd, line, n);
    if (w <= 0) return;
    line += w;
    n -= (size_t)w;
  }
}

void say_and_exit(const char *line) {
  if (atomic_exchange(&said, 1)) return;
  say_fd(1, line);
  _exit(0);
}
