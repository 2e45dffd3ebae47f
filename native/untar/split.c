/*
 * The tar-split: every byte of the stream except regular files' content, in order, with references to the
 * files, so that src/images/tar-split.ts rebuilds the exact tar from the unpacked layer. Format: "TVSPLIT1\n",
 * then records 'R' u32be LENGTH BYTES (raw) and 'F' u64be SIZE u32be PATHLEN PATH (file content; PATH is
 * "fs/REL", or "split-data/N" for a file a later entry replaced).
 */
#include "untar.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void order_push(struct split *sp, struct order_item it) {
  if (sp->norder == sp->ordercap)
    sp->order = xrealloc(sp->order, (sp->ordercap = sp->ordercap ? sp->ordercap * 2 : 1024) * sizeof *sp->order);
  sp->order[sp->norder++] = it;
}

void raw_add(struct split *sp, const unsigned char *p, size_t n) {
  if (!sp->on || n == 0) return;
  if (sp->rawlen + n > sp->rawcap) {
    while (sp->rawlen + n > sp->rawcap) sp->rawcap = sp->rawcap ? sp->rawcap * 2 : (1 << 20);
    sp->raw = xrealloc(sp->raw, sp->rawcap);
  }
  memcpy(sp->raw + sp->rawlen, p, n);
  if (sp->norder && !sp->order[sp->norder - 1].is_file)
    sp->order[sp->norder - 1].b += n;
  else
    order_push(sp, (struct order_item){0, sp->rawlen, n});
  sp->rawlen += n;
}

long file_ref_add(struct split *sp, uint64_t size, const char *rel) {
  if (!sp->on) return -1;
  if (sp->nrefs == sp->refcap)
    sp->refs = xrealloc(sp->refs, (sp->refcap = sp->refcap ? sp->refcap * 2 : 1024) * sizeof *sp->refs);
  size_t l = strlen(rel);
  char *p = xmalloc(l + 4);
  memcpy(p, "fs/", 3);
  memcpy(p + 3, rel, l + 1);
  sp->refs[sp->nrefs] = (struct ref){size, p};
  order_push(sp, (struct order_item){1, sp->nrefs, 0});
  return (long)sp->nrefs++;
}

void file_ref_move(struct split *sp, long ref, char *path) {
  free(sp->refs[ref].path);
  sp->refs[ref].path = path;
}

void pass_raw(struct input *in, struct split *sp, uint64_t n) {
  while (n > 0) {
    if (avail(in) == 0 && fill(in) == 0) TRUNCATED();
    size_t k = avail(in) < n ? avail(in) : (size_t)n;
    raw_add(sp, in->buf + in->start, k);
    advance(in, k);
    n -= k;
  }
}

static void put_be(unsigned char *p, uint64_t v, int n) {
  for (int i = n - 1; i >= 0; i--, v >>= 8) p[i] = (unsigned char)(v & 0xff);
}

void split_write(const struct split *sp, int layerfd) {
  int fd = openat(layerfd, "tar-split", O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) sys_fail("open", "tar-split");
  size_t cap = 1 << 20, len = 0;
  unsigned char *out = xmalloc(cap);
#define ROOM(n)                                                                                              \
  do {                                                                                                       \
    if (len + (n) > cap) {                                                                                   \
      write_all(fd, out, len, "tar-split");                                                                  \
      len = 0;                                                                                               \
    }                                                                                                        \
  } while (0)
  memcpy(out, "TVSPLIT1\n", 9);
  len = 9;
  for (size_t i = 0; i < sp->norder; i++) {
    if (!sp->order[i].is_file) {
      /* the JS reader caps nothing, but a u32 length does: split huge runs */
      size_t off = sp->order[i].a, left = sp->order[i].b;
      while (left > 0) {
        size_t k = left > 0x7fffffff ? 0x7fffffff : left;
        ROOM(5 + k);
        out[len] = 'R';
        put_be(out + len + 1, k, 4);
        len += 5;
        if (len + k <= cap) {
          memcpy(out + len, sp->raw + off, k);
          len += k;
        } else {
          write_all(fd, out, len, "tar-split");
          len = 0;
          write_all(fd, sp->raw + off, k, "tar-split");
        }
        off += k;
        left -= k;
      }
    } else {
      const struct ref *r = &sp->refs[sp->order[i].a];
      size_t pl = strlen(r->path);
      ROOM(13 + pl);
      if (13 + pl > cap) finish_error("BAD_LAYER", "unpacking layer failed: path too long for tar-split");
      out[len] = 'F';
      put_be(out + len + 1, r->size, 8);
      put_be(out + len + 9, pl, 4);
      memcpy(out + len + 13, r->path, pl);
      len += 13 + pl;
    }
  }
  write_all(fd, out, len, "tar-split");
  if (close(fd) < 0) sys_fail("close", "tar-split");
  free(out);
#undef ROOM
}
