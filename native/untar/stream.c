/*
 * The archive, header by header: metadata records (pax, GNU long names) are gathered, each real entry is
 * built from its header and them and handed to apply(); every byte that is not file content goes to the
 * tar-split.
 */
#include "untar.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void parse_stream(struct untar *u) {
  struct input *in = &u->in;
  struct kvlist pax = {0}, gpax = {0};
  char *long_path = NULL, *long_link = NULL;
  int saw_entry = 0;
  uint64_t meta_bytes = 0, global_bytes = 0;
  static struct entry e; /* 16 KB of paths: not on the stack */
  for (;;) {
    if (!ensure(in, 512)) {
      if (avail(in) == 0 && saw_entry) return; /* no end-of-archive blocks: accept, as GNU tar does */
      TRUNCATED();
    }
    unsigned char h[512];
    memcpy(h, in->buf + in->start, 512);
    if (is_zero(h)) {
      pass_raw(in, &u->split, 512);
      return;
    }
    if (!checksum_ok(h)) tar_fail("not a tar archive (bad header checksum at byte %llu)", (unsigned long long)in->consumed);
    pass_raw(in, &u->split, 512);
    char t = (char)h[156];
    if (t == 0) t = '0';
    int ok;
    uint64_t hsize = hnum(h + 124, 12, &ok);
    if (!ok) hsize = 0;
    if (t == 'x' || t == 'X' || t == 'g' || t == 'L' || t == 'N' || t == 'K') {
      if (hsize > META_LIMIT) tar_fail("tar metadata record too large (%llu bytes)", (unsigned long long)hsize);
      if ((t == 'g' ? (global_bytes += hsize) : (meta_bytes += hsize)) > META_TOTAL_LIMIT)
        tar_fail("more than %u MiB of tar metadata records", META_TOTAL_LIMIT >> 20);
      if (!ensure(in, (size_t)hsize)) TRUNCATED();
      unsigned char *d = xmalloc(hsize + 1);
      memcpy(d, in->buf + in->start, hsize);
      d[hsize] = 0;
      pass_raw(in, &u->split, (size_t)hsize);
      pass_raw(in, &u->split, (512 - hsize % 512) % 512);
      if (t == 'g')
        parse_pax(d, hsize, &gpax);
      else if (t == 'x' || t == 'X')
        parse_pax(d, hsize, &pax);
      else if (t == 'K') {
        free(long_link);
        long_link = strdup((char *)d);
      } else {
        free(long_path);
        long_path = strdup((char *)d);
      }
      free(d);
      continue;
    }
    /* a real entry */
    meta_bytes = 0;
    char hp[512];
    hstr(h, 100, hp);
    /* old tars marked directories as files with a trailing slash (the name field alone, as npm tar) */
    int slash_dir = *hp && hp[strlen(hp) - 1] == '/';
    int posix = !memcmp(h + 257, "ustar\0" "00", 8);
    if (posix) {
      char pre[156];
      hstr(h + 345, h[475] ? 155 : 130, pre);
      if (*pre) {
        size_t pl = strlen(pre), nl = strlen(hp); /* <= 155 and <= 100 */
        memmove(hp + pl + 1, hp, nl + 1);
        memcpy(hp, pre, pl);
        hp[pl] = '/';
      }
    }
    const struct kv *pv = kv_get(&pax, "path");
    if (!pv) pv = kv_get(&gpax, "path");
    const char *path = pv ? (const char *)pv->val : long_path ? long_path : hp;
    snprintf(e.path, sizeof e.path, "%s", path);
    if (strlen(path) >= sizeof e.path) {
      char c[64];
      finish_error("BAD_LAYER", "entry path too long: \"%s...\"", clip(path, 60, c));
    }
    char hl[101];
    hstr(h + 157, 100, hl);
    const struct kv *lv = kv_get(&pax, "linkpath");
    if (!lv) lv = kv_get(&gpax, "linkpath");
    const char *link = lv ? (const char *)lv->val : long_link ? long_link : hl;
    if (strlen(link) >= sizeof e.linkpath) {
      char c[64];
      finish_error("BAD_LAYER", "hard link target path too long: \"%s...\"", clip(link, 60, c));
    }
    snprintf(e.linkpath, sizeof e.linkpath, "%s", link);
    if (t == '0' && slash_dir) t = '5';
    e.type = t;
    uint64_t v = hnum(h + 100, 8, &ok);
    e.mode = (unsigned)pax_num(&pax, &gpax, "mode", ok ? v : 0) & 07777;
    v = hnum(h + 108, 8, &ok);
    e.uid = (unsigned)pax_num(&pax, &gpax, "uid", ok ? v : 0);
    v = hnum(h + 116, 8, &ok);
    e.gid = (unsigned)pax_num(&pax, &gpax, "gid", ok ? v : 0);
    e.size = pax_num(&pax, &gpax, "size", hsize);
    if (t == '5') e.size = 0;
    e.devmajor = (unsigned)hnum(h + 329, 8, &ok);
    if (!ok) e.devmajor = 0;
    e.devminor = (unsigned)hnum(h + 337, 8, &ok);
    if (!ok) e.devminor = 0;
    const struct kv *mv = kv_get(&pax, "mtime");
    if (!mv) mv = kv_get(&gpax, "mtime");
    if (mv) {
      char *end;
      double x = strtod((const char *)mv->val, &end);
      e.has_mtime = end != (const char *)mv->val;
      e.mtime.tv_sec = (time_t)x;
      /* the fraction as written, to the nanosecond */
      const char *dot = strchr((const char *)mv->val, '.');
      long ns = 0;
      if (dot) {
        int dgt = 0;
        for (const char *p = dot + 1; *p >= '0' && *p <= '9' && dgt < 9; p++, dgt++) ns = ns * 10 + (*p - '0');
        for (; dgt < 9; dgt++) ns *= 10;
      }
      e.mtime.tv_nsec = x < 0 ? 0 : ns;
    } else {
      uint64_t m = hnum(h + 136, 12, &ok);
      e.has_mtime = ok;
      e.mtime.tv_sec = (time_t)m;
      e.mtime.tv_nsec = 0;
    }
    /* xattrs: global first, the entry's own override */
    e.nxattrs = 0;
    e.xattrs = xmalloc((gpax.n + pax.n) * sizeof *e.xattrs);
    const struct kvlist *ls[2] = {&gpax, &pax};
    for (int li = 0; li < 2; li++)
      for (size_t i = 0; i < ls[li]->n; i++) {
        const struct kv *x = &ls[li]->v[i];
        if (strncmp(x->key, "SCHILY.xattr.", 13)) continue;
        const char *name = x->key + 13;
        size_t k = 0;
        while (k < e.nxattrs && strcmp(e.xattrs[k].name, name)) k++;
        if (k == e.nxattrs) {
          e.nxattrs++;
          e.xattrs[k].name = strdup(name);
        } else
          free(e.xattrs[k].value);
        e.xattrs[k].value = xmalloc(x->len ? x->len : 1);
        memcpy(e.xattrs[k].value, x->val, x->len);
        e.xattrs[k].len = x->len;
      }
    kv_clear(&pax);
    free(long_path);
    free(long_link);
    long_path = long_link = NULL;
    saw_entry = 1;
    int has_data = !(t == '1' || t == '2' || t == '3' || t == '4' || t == '5' || t == '6');
    uint64_t data_len = has_data ? e.size : 0;
    uint64_t used = apply(u, &e, data_len);
    free_xattrs(e.xattrs, e.nxattrs);
    e.xattrs = NULL;
    e.nxattrs = 0;
    pass_raw(in, &u->split, data_len - used + (512 - data_len % 512) % 512);
  }
}

void read_trailer(struct untar *u) {
  struct input *in = &u->in;
  for (uint64_t trailing = 0;;) {
    if (avail(in) == 0 && fill(in) == 0) break;
    size_t k = avail(in);
    if ((trailing += k) > META_TOTAL_LIMIT)
      tar_fail("more than %u MiB of data after the end of the archive", META_TOTAL_LIMIT >> 20);
    raw_add(&u->split, in->buf + in->start, k);
    advance(in, k);
  }
}
