/*
 * Applying one entry to the layer directory (created relative to its parent's fd with O_EXCL|O_NOFOLLOW,
 * mkdirat, symlinkat, mknodat, linkat), and the directories' metadata at the end, deepest first.
 */
#include "untar.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

/* Only these are taken from the archive. */
static int allowed_xattr(const char *name) {
  return !strncmp(name, "user.", 5) || !strcmp(name, "security.capability");
}

static void set_xattrs_fd(const struct untar *u, int fd, const struct xattr *x, size_t n, const char *rel) {
  for (size_t i = 0; i < n; i++) {
    if (fsetxattr(fd, x[i].name, x[i].value, x[i].len, 0) < 0) {
      if (errno == EOPNOTSUPP || (!u->privileged && errno == EPERM)) continue; /* as GNU tar: a warning */
      sys_fail("setxattr", rel);
    }
  }
}

static void need_root(const struct untar *u) {
  if (!u->privileged)
    finish_error("BAD_LAYER", "this layer has whiteouts or device nodes, which only root can create; run as root");
}

static struct xattr *copy_xattrs(const struct xattr *x, size_t n) {
  struct xattr *o = xmalloc(n * sizeof *o);
  for (size_t i = 0; i < n; i++) {
    o[i].name = strdup(x[i].name);
    o[i].value = xmalloc(x[i].len);
    memcpy(o[i].value, x[i].value, x[i].len);
    o[i].len = x[i].len;
  }
  return o;
}

/* Writes the next `size` bytes of the stream to fd (file content: not recorded in the tar-split). */
static void body_to_fd(struct input *in, int fd, uint64_t size, const char *rel) {
  uint64_t left = size;
  while (left > 0) {
    if (avail(in) > 0) {
      size_t k = avail(in) < left ? avail(in) : (size_t)left;
      write_all(fd, in->buf + in->start, k, rel);
      advance(in, k);
      left -= k;
      continue;
    }
    if (fill(in) == 0) TRUNCATED();
  }
}

static void times_of(const struct entry *e, struct timespec ts[2]) {
  ts[0] = e->mtime;
  ts[1] = e->mtime;
}

uint64_t apply(struct untar *u, struct entry *e, uint64_t data_len) {
  char rel[PATH_MAX_ + 1];
  u->entry_path = e->path;
  size_t len = clean_path(e->path, rel, "entry");
  const char *base = base_of(rel, len);
  size_t blen = len - (size_t)(base - rel);

  if (blen >= 4 && !memcmp(base, ".wh.", 4)) {
    if (!strcmp(base, ".wh..wh..opq")) {
      need_root(u);
      parent_fd(u, rel, len);
      size_t plen = base == rel ? 0 : (size_t)(base - rel) - 1;
      if (plen == 0) {
        u->root_opaque = 1;
      } else {
        struct node *n = node_lookup(&u->nodes, rel, plen);
        if (n) n->opaque = 1;
      }
    } else if (blen >= 8 && !memcmp(base, ".wh..wh.", 8)) {
      /* aufs metadata (.wh..wh.plnk etc.): not part of the image content */
    } else {
      const char *name = base + 4;
      if (!*name || !strcmp(name, ".") || !strcmp(name, ".."))
        finish_error("BAD_LAYER", "whiteout \"%s\" points outside its directory", e->path);
      need_root(u);
      char target[PATH_MAX_ + 1];
      size_t tl = (size_t)(base - rel);
      memcpy(target, rel, tl);
      memcpy(target + tl, name, strlen(name) + 1);
      tl += strlen(name);
      int pfd = parent_fd(u, target, tl);
      remove_node(u, target, tl, pfd, name);
      if (mknodat(pfd, name, S_IFCHR | 0, makedev(0, 0)) < 0) sys_fail("mknod", target);
      if (e->has_mtime) {
        struct timespec ts[2];
        times_of(e, ts);
        if (utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0) sys_fail("utimes", target);
      }
      node_insert(&u->nodes, target, tl, K_SPECIAL);
      u->whiteouts++;
    }
    return 0;
  }
  if (len == 0) {
    /* the layer root itself ("./"): keep its metadata */
    if (e->type == '5') {
      u->root_node.has_meta = 1;
      u->root_node.mode = e->mode;
      u->root_node.uid = e->uid;
      u->root_node.gid = e->gid;
      u->root_node.has_mtime = e->has_mtime;
      u->root_node.mtime = e->mtime;
    }
    return 0;
  }
  int pfd = parent_fd(u, rel, len);
  /* keep only the xattrs we carry over */
  size_t nx = 0;
  for (size_t i = 0; i < e->nxattrs; i++)
    if (allowed_xattr(e->xattrs[i].name)) e->xattrs[nx++] = e->xattrs[i];
    else {
      free(e->xattrs[i].name);
      free(e->xattrs[i].value);
    }
  e->nxattrs = nx;
  struct timespec ts[2];
  times_of(e, ts);
  int chown_needed = u->privileged && (e->uid != 0 || e->gid != 0 || u->always_chown);

  switch (e->type) {
  case '5': {
    struct node *n = node_lookup(&u->nodes, rel, len);
    if (!n || n->kind != K_DIR) {
      remove_node(u, rel, len, pfd, base);
      if (mkdirat(pfd, base, 0755) < 0) sys_fail("mkdir", rel);
      n = node_insert(&u->nodes, rel, len, K_DIR);
    }
    n->has_meta = 1;
    n->mode = e->mode;
    n->uid = e->uid;
    n->gid = e->gid;
    n->has_mtime = e->has_mtime;
    n->mtime = e->mtime;
    if (nx) {
      free_xattrs(n->xattrs, n->nxattrs);
      n->xattrs = copy_xattrs(e->xattrs, nx);
      n->nxattrs = nx;
    }
    return 0;
  }
  case '0':
  case '7': {
    remove_node(u, rel, len, pfd, base);
    unsigned create_mode = (chown_needed || (e->mode & 07000)) ? 0600 : (e->mode & 0777);
    int fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, create_mode);
    if (fd < 0) sys_fail("open", rel);
    long ref = file_ref_add(&u->split, e->size, rel);
    body_to_fd(&u->in, fd, e->size, rel);
    if (chown_needed && fchown(fd, e->uid, e->gid) < 0) sys_fail("chown", rel);
    if (create_mode != e->mode && fchmod(fd, e->mode) < 0) sys_fail("chmod", rel); /* after chown */
    set_xattrs_fd(u, fd, e->xattrs, nx, rel);
    if (e->has_mtime && futimens(fd, ts) < 0) sys_fail("utimes", rel);
    if (close(fd) < 0) sys_fail("close", rel);
    struct node *n = node_insert(&u->nodes, rel, len, K_FILE);
    n->ref = ref;
    u->total_size += e->size;
    return data_len;
  }
  case '2': {
    remove_node(u, rel, len, pfd, base);
    if (symlinkat(e->linkpath, pfd, base) < 0) sys_fail("symlink", rel);
    if (chown_needed && fchownat(pfd, base, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0) sys_fail("chown", rel);
    if (e->has_mtime && utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0) sys_fail("utimes", rel);
    node_insert(&u->nodes, rel, len, K_SYMLINK);
    return 0;
  }
  case '1': {
    char target[PATH_MAX_ + 1];
    size_t tl = clean_path(e->linkpath, target, "hard link target");
    struct node *t = node_lookup(&u->nodes, target, tl);
    if (!t || t->kind == K_DIR)
      finish_error("BAD_LAYER", "hard link \"%s\" points at \"%s\", which is not a file earlier in this layer",
                   e->path, e->linkpath);
    if (tl == len && !memcmp(target, rel, len)) return 0;
    int tkind = t->kind;
    remove_node(u, rel, len, pfd, base);
    const char *tname;
    int tfd = open_parent(u, target, &tname);
    if (linkat(tfd, tname, pfd, base, 0) < 0) sys_fail("link", rel);
    if (tfd != u->rootfd) close(tfd);
    node_insert(&u->nodes, rel, len, tkind);
    return 0;
  }
  case '3':
  case '4':
  case '6': {
    need_root(u);
    remove_node(u, rel, len, pfd, base);
    mode_t type = e->type == '3' ? S_IFCHR : e->type == '4' ? S_IFBLK : S_IFIFO;
    if (mknodat(pfd, base, type | (e->mode & 0777), makedev(e->devmajor, e->devminor)) < 0) sys_fail("mknod", rel);
    if (chown_needed && fchownat(pfd, base, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0) sys_fail("chown", rel);
    if ((e->mode & 07000) || chown_needed)
      if (fchmodat(pfd, base, e->mode, 0) < 0) sys_fail("chmod", rel);
    if (e->has_mtime && utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0) sys_fail("utimes", rel);
    node_insert(&u->nodes, rel, len, K_SPECIAL);
    return 0;
  }
  default:
    finish_error("BAD_LAYER", "entry \"%s\" has an unsupported type (%s)", e->path, type_name(e->type));
  }
}

static void apply_dir(const struct untar *u, const char *rel, const struct node *n, int opaque) {
  int fd = *rel ? openat2_beneath(u->rootfd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
                : openat(u->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) sys_fail("open", *rel ? rel : ".");
  if (n->has_meta) {
    /* we made it root:root 0755 (umask 0); change only what differs */
    int chown_needed = u->privileged && (n->uid != 0 || n->gid != 0 || u->always_chown);
    if (chown_needed && fchown(fd, n->uid, n->gid) < 0) sys_fail("chown", rel);
    if ((chown_needed || n->mode != 0755 || !*rel) && fchmod(fd, n->mode) < 0) sys_fail("chmod", rel);
  }
  set_xattrs_fd(u, fd, n->xattrs, n->nxattrs, rel);
  if (opaque && fsetxattr(fd, "trusted.overlay.opaque", "y", 1, 0) < 0) sys_fail("setxattr", rel);
  if (n->has_meta && n->has_mtime) {
    struct timespec ts[2] = {n->mtime, n->mtime};
    if (futimens(fd, ts) < 0) sys_fail("utimes", rel);
  }
  close(fd);
}

static int deeper_first(const void *a, const void *b) {
  const struct node *x = *(struct node *const *)a, *y = *(struct node *const *)b;
  return x->klen < y->klen ? 1 : x->klen > y->klen ? -1 : 0;
}

void finish_dirs(struct untar *u) {
  struct node **dirs = xmalloc((u->nodes.nlive + 1) * sizeof *dirs);
  size_t nd = 0;
  for (size_t j = 0; j < u->nodes.nslots; j++) {
    struct node *s = node_at(&u->nodes, j);
    if (s && s->kind == K_DIR && (s->has_meta || s->opaque || s->nxattrs)) dirs[nd++] = s;
  }
  qsort(dirs, nd, sizeof *dirs, deeper_first);
  for (size_t i = 0; i < nd; i++) apply_dir(u, dirs[i]->key, dirs[i], dirs[i]->opaque);
  if (u->root_node.has_meta || u->root_opaque) apply_dir(u, "", &u->root_node, u->root_opaque);
  free(dirs);
}

