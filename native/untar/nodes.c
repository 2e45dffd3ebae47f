/* The table of every node this layer created, by cleaned path: what lets paths.c refuse a parent that is a
 * symlink or a file before any system call, and apply.c find directories' metadata at the end. */
#include "untar.h"

#include <stdlib.h>
#include <string.h>

static struct node tomb_;
#define TOMB (&tomb_)

static uint64_t hash_of(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
  return h;
}

void free_xattrs(struct xattr *x, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(x[i].name);
    free(x[i].value);
  }
  free(x);
}

static void table_grow(struct nodes *t) {
  size_t old = t->nslots;
  struct node **os = t->slots;
  t->nslots = old ? old * 2 : 1 << 14;
  while (t->nlive * 2 >= t->nslots) t->nslots *= 2;
  t->slots = calloc(t->nslots, sizeof *t->slots);
  if (!t->slots) finish_error("BAD_LAYER", "unpacking layer failed: out of memory");
  t->nused = t->nlive;
  for (size_t i = 0; i < old; i++) {
    struct node *n = os[i];
    if (!n || n == TOMB) continue;
    size_t j = n->hash & (t->nslots - 1);
    while (t->slots[j]) j = (j + 1) & (t->nslots - 1);
    t->slots[j] = n;
  }
  free(os);
}

/* The slot holding k, or -1. */
static long find_slot(const struct nodes *t, const char *k, size_t n) {
  if (!t->nslots) return -1;
  uint64_t h = hash_of(k, n);
  for (size_t j = h & (t->nslots - 1);; j = (j + 1) & (t->nslots - 1)) {
    struct node *s = t->slots[j];
    if (!s) return -1;
    if (s != TOMB && s->hash == h && s->klen == n && memcmp(s->key, k, n) == 0) return (long)j;
  }
}

struct node *node_lookup(const struct nodes *t, const char *k, size_t n) {
  long j = find_slot(t, k, n);
  return j < 0 ? NULL : t->slots[j];
}

struct node *node_insert(struct nodes *t, const char *k, size_t n, int kind) {
  if ((t->nused + 1) * 2 >= t->nslots) table_grow(t);
  uint64_t h = hash_of(k, n);
  size_t j = h & (t->nslots - 1);
  while (t->slots[j] && t->slots[j] != TOMB) j = (j + 1) & (t->nslots - 1);
  struct node *nd = calloc(1, sizeof *nd);
  if (!nd) finish_error("BAD_LAYER", "unpacking layer failed: out of memory");
  nd->key = xmalloc(n + 1);
  memcpy(nd->key, k, n);
  nd->key[n] = 0;
  nd->klen = n;
  nd->hash = h;
  nd->kind = kind;
  nd->ref = -1;
  if (!t->slots[j]) t->nused++;
  t->slots[j] = nd;
  t->nlive++;
  return nd;
}

void node_drop_slot(struct nodes *t, size_t j) {
  struct node *n = t->slots[j];
  free(n->key);
  free_xattrs(n->xattrs, n->nxattrs);
  free(n);
  t->slots[j] = TOMB;
  t->nlive--;
}

void node_delete(struct nodes *t, const char *k, size_t n) {
  long j = find_slot(t, k, n);
  if (j >= 0) node_drop_slot(t, (size_t)j);
}

struct node *node_at(const struct nodes *t, size_t j) {
  struct node *s = t->slots[j];
  return s == TOMB ? NULL : s;
}

int node_under(const struct node *n, const char *prefix, size_t plen) {
  return n->klen > plen && n->key[plen] == '/' && memcmp(n->key, prefix, plen) == 0;
}
