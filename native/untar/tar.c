/* Tar header fields (octal or base-256 numbers, strings, the checksum) and pax records. */
#include "untar.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void kv_set(struct kvlist *l, const char *k, size_t kl, const unsigned char *v, size_t vl) {
  for (size_t i = 0; i < l->n; i++)
    if (strlen(l->v[i].key) == kl && !memcmp(l->v[i].key, k, kl)) {
      free(l->v[i].val);
      l->v[i].val = xmalloc(vl + 1);
      memcpy(l->v[i].val, v, vl);
      l->v[i].val[vl] = 0;
      l->v[i].len = vl;
      return;
    }
  if (l->n == l->cap) l->v = xrealloc(l->v, (l->cap = l->cap ? l->cap * 2 : 8) * sizeof *l->v);
  struct kv *e = &l->v[l->n++];
  e->key = xmalloc(kl + 1);
  memcpy(e->key, k, kl);
  e->key[kl] = 0;
  e->val = xmalloc(vl + 1);
  memcpy(e->val, v, vl);
  e->val[vl] = 0;
  e->len = vl;
}

void kv_clear(struct kvlist *l) {
  for (size_t i = 0; i < l->n; i++) {
    free(l->v[i].key);
    free(l->v[i].val);
  }
  l->n = 0;
}

const struct kv *kv_get(const struct kvlist *l, const char *k) {
  for (size_t i = 0; i < l->n; i++)
    if (!strcmp(l->v[i].key, k)) return &l->v[i];
  return NULL;
}

void parse_pax(const unsigned char *d, size_t n, struct kvlist *into) {
  size_t off = 0;
  while (off < n) {
    if (d[off] == 0) break;
    const unsigned char *sp = memchr(d + off, ' ', n - off);
    if (!sp) break;
    size_t len = 0;
    const unsigned char *p = d + off;
    if (p == sp) tar_fail("malformed pax header");
    for (; p < sp; p++) {
      if (*p < '0' || *p > '9' || len > n) tar_fail("malformed pax header");
      len = len * 10 + (size_t)(*p - '0');
    }
    if (len == 0 || off + len > n) tar_fail("malformed pax header");
    const unsigned char *rec = sp + 1, *end = d + off + len - 1; /* without the trailing \n */
    if (rec > end) tar_fail("malformed pax header");
    const unsigned char *eq = memchr(rec, '=', (size_t)(end - rec));
    if (eq && eq > rec) kv_set(into, (const char *)rec, (size_t)(eq - rec), eq + 1, (size_t)(end - eq - 1));
    off += len;
  }
}

/* A numeric header field: octal text, or base-256 when the high bit is set. ok=0 if unparseable. */
uint64_t hnum(const unsigned char *f, size_t n, int *ok) {
  *ok = 1;
  if (f[0] & 0x80) {
    if (f[0] == 0xff) {
      *ok = 0;
      return 0;
    }
    uint64_t v = f[0] & 0x7f;
    for (size_t i = 1; i < n; i++) v = (v << 8) | f[i];
    return v;
  }
  size_t i = 0, end = 0;
  while (end < n && f[end]) end++;
  while (i < end && f[i] == ' ') i++;
  while (end > i && f[end - 1] == ' ') end--;
  if (i == end) {
    *ok = 0;
    return 0;
  }
  uint64_t v = 0;
  for (; i < end; i++) {
    if (f[i] < '0' || f[i] > '7') break; /* like parseInt: stop at the first non-digit */
    v = v * 8 + (uint64_t)(f[i] - '0');
  }
  return v;
}

void hstr(const unsigned char *f, size_t n, char *out) {
  size_t l = strnlen((const char *)f, n);
  memcpy(out, f, l);
  out[l] = 0;
}

const char *type_name(char t) {
  switch (t) {
  case '0': return "File";
  case '1': return "Link";
  case '2': return "SymbolicLink";
  case '3': return "CharacterDevice";
  case '4': return "BlockDevice";
  case '5': return "Directory";
  case '6': return "FIFO";
  case '7': return "ContiguousFile";
  case 'A': return "SolarisACL";
  case 'D': return "GNUDumpDir";
  case 'I': return "Inode";
  case 'M': return "ContinuationFile";
  case 'S': return "SparseFile";
  case 'V': return "TapeVolumeHeader";
  case 'E': return "ExtendedAttribute";
  default: return "Unsupported";
  }
}

uint64_t pax_num(const struct kvlist *l, const struct kvlist *g, const char *k, uint64_t d) {
  const struct kv *v = kv_get(l, k);
  if (!v) v = kv_get(g, k);
  if (!v) return d;
  char *end;
  errno = 0;
  double x = strtod((const char *)v->val, &end);
  if (errno || end == (const char *)v->val || x < 0) tar_fail("bad pax %s", k);
  return (uint64_t)x;
}

int is_zero(const unsigned char *b) {
  for (int i = 0; i < 512; i++)
    if (b[i]) return 0;
  return 1;
}

int checksum_ok(const unsigned char *h) {
  int ok;
  uint64_t want = hnum(h + 148, 8, &ok);
  if (!ok) return 0;
  uint64_t u = 8 * 0x20;
  int64_t s = 8 * 0x20;
  for (int i = 0; i < 512; i++) {
    if (i >= 148 && i < 156) continue;
    u += h[i];
    s += (signed char)h[i];
  }
  return want == u || (int64_t)want == s;
}

