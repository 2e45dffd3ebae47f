/*
 * Paths inside the layer: lexical cleaning, the parent directories (opened beneath the root, never through a
 * symlink), and removing what an earlier entry made at a path (its regular files kept for the tar-split).
 */
#include "untar.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

size_t clean_path(const char *p, char *out, const char *what) {
  size_t len = 0;
  char c1[64], c2[64];
  const char *s = p;
  while (*s) {
    while (*s == '/') s++;
    if (!*s) break;
    const char *e = strchr(s, '/');
    size_t cl = e ? (size_t)(e - s) : strlen(s);
    if (cl == 1 && s[0] == '.') {
      /* skip */
    } else if (cl == 2 && s[0] == '.' && s[1] == '.') {
      if (len == 0) finish_error("BAD_LAYER", "%s \"%s\" points outside the layer", what, p);
      char *slash = memrchr(out, '/', len);
      len = slash ? (size_t)(slash - out) : 0;
    } else {
      if (cl > NAME_MAX_)
        finish_error("BAD_LAYER", "%s name too long (%zu bytes): \"%s...\"", what, cl, clip(s, 40, c1));
      if (len + (len ? 1 : 0) + cl > PATH_MAX_)
        finish_error("BAD_LAYER", "%s path too long: \"%s...\"", what, clip(p, 60, c2));
      if (len) out[len++] = '/';
      memcpy(out + len, s, cl);
      len += cl;
    }
    s += cl;
  }
  out[len] = 0;
  return len;
}

int openat2_beneath(int dirfd, const char *path, int flags) {
  struct open_how how = {.flags = (uint64_t)flags | O_CLOEXEC,
                         .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV};
  for (;;) {
    int fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    if (fd < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    return fd;
  }
}

/* ---- the cache of parent directories ---- */

void cache_init(struct dircache *c) {
  for (int i = 0; i < NCACHE; i++) c->e[i].fd = -1;
}

/* Forgets rel and everything below it (it is being removed). */
static void cache_drop_under(struct dircache *c, const char *rel, size_t len) {
  for (int i = 0; i < NCACHE; i++)
    if (c->e[i].fd >= 0 && c->e[i].len >= len && memcmp(c->e[i].key, rel, len) == 0 &&
        (c->e[i].len == len || c->e[i].key[len] == '/')) {
      close(c->e[i].fd);
      c->e[i].fd = -1;
    }
}

void cache_drop_all(struct dircache *c) {
  for (int i = 0; i < NCACHE; i++)
    if (c->e[i].fd >= 0) {
      close(c->e[i].fd);
      c->e[i].fd = -1;
    }
}

static void cache_put(struct dircache *c, const char *rel, size_t plen, int fd) {
  int slot = 0;
  for (int i = 0; i < NCACHE; i++) {
    if (c->e[i].fd < 0) {
      slot = i;
      break;
    }
    if (c->e[i].used < c->e[slot].used) slot = i;
  }
  if (c->e[slot].fd >= 0) close(c->e[slot].fd);
  memcpy(c->e[slot].key, rel, plen);
  c->e[slot].len = plen;
  c->e[slot].fd = fd;
  c->e[slot].used = ++c->tick;
}

/* ---- parents ---- */

static void refuse_through(struct untar *u, const char *rel, size_t at, const struct node *n)
    __attribute__((noreturn));
static void refuse_through(struct untar *u, const char *rel, size_t at, const struct node *n) {
  char k[PATH_MAX_ + 1];
  memcpy(k, rel, at);
  k[at] = 0;
  finish_error("BAD_LAYER", "entry \"%s\" would be written through %s \"%s\"; refusing", u->entry_path,
               n->kind == K_SYMLINK ? "the symbolic link" : "the non-directory", k);
}

/*
 * Makes sure every parent of rel is a directory (creating missing ones, as the JS side does) and returns
 * an fd of the parent (rootfd for a top-level name). Refuses a parent that is a symlink or a file.
 */
int parent_fd(struct untar *u, const char *rel, size_t len) {
  struct dircache *c = &u->cache;
  const char *slash = memrchr(rel, '/', len);
  if (!slash) return u->rootfd;
  size_t plen = (size_t)(slash - rel);
  for (int i = 0; i < NCACHE; i++)
    if (c->e[i].fd >= 0 && c->e[i].len == plen && memcmp(c->e[i].key, rel, plen) == 0) {
      struct node *n = node_lookup(&u->nodes, rel, plen);
      if (n && n->kind == K_DIR) {
        c->e[i].used = ++c->tick;
        return c->e[i].fd;
      }
    }
  /* check every prefix against what we created */
  size_t first_missing = (size_t)-1;
  for (size_t i = 0; i <= plen; i++) {
    if (i < plen && rel[i] != '/') continue;
    struct node *n = node_lookup(&u->nodes, rel, i);
    if (!n) {
      first_missing = i;
      break;
    }
    if (n->kind != K_DIR) refuse_through(u, rel, i, n);
  }
  char path[PATH_MAX_ + 1];
  memcpy(path, rel, plen);
  path[plen] = 0;
  int fd;
  if (first_missing == (size_t)-1) {
    fd = openat2_beneath(u->rootfd, path, O_PATH | O_DIRECTORY);
    if (fd < 0) sys_fail("open", path);
  } else {
    /* open the deepest existing prefix, then create and enter the rest one component at a time */
    size_t at = 0;
    if (first_missing > 0) {
      const char *s = memrchr(rel, '/', first_missing);
      at = s ? (size_t)(s - rel) + 1 : 0;
    }
    if (at > 0) {
      path[at - 1] = 0;
      fd = openat2_beneath(u->rootfd, path, O_PATH | O_DIRECTORY);
      if (fd < 0) sys_fail("open", path);
      path[at - 1] = '/';
    } else {
      fd = openat(u->rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0) sys_fail("open", ".");
    }
    while (at < plen) {
      size_t end = at;
      while (end < plen && rel[end] != '/') end++;
      char comp[NAME_MAX_ + 1];
      memcpy(comp, rel + at, end - at);
      comp[end - at] = 0;
      struct node *n = node_lookup(&u->nodes, rel, end);
      if (!n) {
        if (mkdirat(fd, comp, 0755) < 0) sys_fail("mkdir", rel);
        node_insert(&u->nodes, rel, end, K_DIR);
      } else if (n->kind != K_DIR) {
        refuse_through(u, rel, end, n);
      }
      int nfd = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (nfd < 0) sys_fail("open", rel);
      close(fd);
      fd = nfd;
      at = end + 1;
    }
  }
  cache_put(c, rel, plen, fd);
  return fd;
}

const char *base_of(const char *rel, size_t len) {
  const char *s = memrchr(rel, '/', len);
  return s ? s + 1 : rel;
}

int open_parent(struct untar *u, const char *rel, const char **name) {
  size_t len = strlen(rel);
  *name = base_of(rel, len);
  if (*name == rel) return u->rootfd;
  char p[PATH_MAX_ + 1];
  size_t pl = (size_t)(*name - rel) - 1;
  memcpy(p, rel, pl);
  p[pl] = 0;
  int fd = openat2_beneath(u->rootfd, p, O_PATH | O_DIRECTORY);
  if (fd < 0) sys_fail("open", p);
  return fd;
}

/* ---- removal ---- */

/* The file is about to be replaced: keep its content for the tar-split rebuild. */
static void preserve(struct untar *u, long ref, int dirfd, const char *name, const char *rel) {
  if (u->splitdatafd < 0) {
    if (mkdirat(u->layerfd, "split-data", 0700) < 0 && errno != EEXIST) sys_fail("mkdir", "split-data");
    u->splitdatafd = openat(u->layerfd, "split-data", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (u->splitdatafd < 0) sys_fail("open", "split-data");
  }
  char to[32];
  snprintf(to, sizeof to, "%u", u->preserved);
  if (renameat(dirfd, name, u->splitdatafd, to) < 0) sys_fail("rename", rel);
  char *p = xmalloc(48);
  snprintf(p, 48, "split-data/%u", u->preserved++);
  file_ref_move(&u->split, ref, p);
}

static void rmtree_at(int dirfd, const char *name, const char *rel) {
  int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) sys_fail("open", rel);
  DIR *d = fdopendir(fd);
  if (!d) sys_fail("opendir", rel);
  struct dirent *de;
  while ((de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    int isdir = de->d_type == DT_DIR;
    if (de->d_type == DT_UNKNOWN) {
      struct stat st;
      if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) sys_fail("stat", rel);
      isdir = S_ISDIR(st.st_mode);
    }
    if (isdir)
      rmtree_at(fd, de->d_name, rel);
    else if (unlinkat(fd, de->d_name, 0) < 0)
      sys_fail("unlink", rel);
  }
  closedir(d);
  if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0) sys_fail("rmdir", rel);
}

void remove_node(struct untar *u, const char *rel, size_t len, int dirfd, const char *name) {
  struct nodes *t = &u->nodes;
  struct node *n = node_lookup(t, rel, len);
  if (!n) return;
  int kind = n->kind;
  long ref = n->ref;
  node_delete(t, rel, len);
  if (kind == K_DIR) {
    cache_drop_under(&u->cache, rel, len);
    /* keep the contents of files below for the tar-split, then drop the whole subtree */
    struct node **below = NULL;
    size_t nb = 0, cb = 0;
    for (size_t j = 0; j < t->nslots; j++) {
      struct node *s = node_at(t, j);
      if (!s || !node_under(s, rel, len)) continue;
      if (s->ref >= 0) {
        if (nb == cb) below = xrealloc(below, (cb = cb ? cb * 2 : 64) * sizeof *below);
        below[nb++] = s;
      }
    }
    for (size_t i = 0; i < nb; i++) {
      const char *nm;
      int pfd = open_parent(u, below[i]->key, &nm);
      preserve(u, below[i]->ref, pfd, nm, below[i]->key);
      if (pfd != u->rootfd) close(pfd);
    }
    free(below);
    rmtree_at(dirfd, name, rel);
    for (size_t j = 0; j < t->nslots; j++) {
      struct node *s = node_at(t, j);
      if (s && node_under(s, rel, len)) node_drop_slot(t, j);
    }
  } else if (kind == K_FILE && ref >= 0) {
    preserve(u, ref, dirfd, name, rel);
  } else {
    if (unlinkat(dirfd, name, 0) < 0) sys_fail("unlink", rel);
  }
}
