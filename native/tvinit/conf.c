/* Conf files: NUL-terminated key=value records, read whole (they are small). */
#include "tvinit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONF_MAX (4u << 20)

void conf_load(struct conf *c, const char *path) {
  int fd;
  if (strncmp(path, "fd:", 3) == 0) {
    char *end;
    long n = strtol(path + 3, &end, 10);
    if (*end || n < 0) fail(EXIT_SETUP, "invalid conf fd %s", path);
    fd = (int)n;
    lseek(fd, 0, SEEK_SET); /* a memfd shared with the shim: read from the start */
  } else {
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail_errno(EXIT_SETUP, "cannot open conf %s", path);
  }
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  if (!buf) fail(EXIT_SETUP, "out of memory");
  for (;;) {
    if (len + 1 >= cap) {
      if (cap >= CONF_MAX) fail(EXIT_SETUP, "conf %s too large", path);
      cap *= 2;
      buf = realloc(buf, cap);
      if (!buf) fail(EXIT_SETUP, "out of memory");
    }
    ssize_t r = read(fd, buf + len, cap - len - 1);
    if (r < 0) {
      if (errno == EINTR) continue;
      fail_errno(EXIT_SETUP, "cannot read conf %s", path);
    }
    if (r == 0) break;
    len += (size_t)r;
  }
  close(fd);
  buf[len] = 0;
  size_t n = 0;
  for (size_t i = 0; i < len; i++)
    if (buf[i] == 0) n++;
  if (len > 0 && buf[len - 1] != 0) fail(EXIT_SETUP, "conf %s: last record is not NUL-terminated", path);
  c->buf = buf;
  c->nrec = n;
  c->keys = calloc(n + 1, sizeof(char *));
  c->vals = calloc(n + 1, sizeof(char *));
  if (!c->keys || !c->vals) fail(EXIT_SETUP, "out of memory");
  char *p = buf;
  for (size_t i = 0; i < n; i++) {
    size_t l = strlen(p);
    char *eq = strchr(p, '=');
    if (!eq || eq == p) fail(EXIT_SETUP, "conf %s: malformed record \"%.40s\"", path, p);
    *eq = 0;
    c->keys[i] = p;
    c->vals[i] = eq + 1;
    p += l + 1;
  }
}

const char *conf_get(const struct conf *c, const char *key) {
  const char *v = NULL;
  for (size_t i = 0; i < c->nrec; i++)
    if (strcmp(c->keys[i], key) == 0) v = c->vals[i];
  return v;
}

long conf_int(const struct conf *c, const char *key, long dflt) {
  const char *v = conf_get(c, key);
  if (!v) return dflt;
  char *end;
  errno = 0;
  long n = strtol(v, &end, 0);
  if (errno || *end || end == v) fail(EXIT_SETUP, "conf: %s=%s is not a number", key, v);
  return n;
}

int conf_bool(const struct conf *c, const char *key) {
  const char *v = conf_get(c, key);
  return v && strcmp(v, "1") == 0;
}

char **conf_all(const struct conf *c, const char *key, size_t *n) {
  size_t k = 0;
  for (size_t i = 0; i < c->nrec; i++)
    if (strcmp(c->keys[i], key) == 0) k++;
  char **out = calloc(k + 1, sizeof(char *));
  if (!out) fail(EXIT_SETUP, "out of memory");
  k = 0;
  for (size_t i = 0; i < c->nrec; i++)
    if (strcmp(c->keys[i], key) == 0) out[k++] = c->vals[i];
  if (n) *n = k;
  return out;
}
