/*
 * tvuntar: unpacks one uncompressed layer tar from stdin into DEST (an empty directory of its own) and,
 * unless SPLITDIR is "-", records a tar-split in SPLITDIR/tar-split (DEST must then be SPLITDIR/fs).
 * The same rules as src/images/unpack.ts (the JS fallback), in C so that the per-entry cost is a few
 * system calls. With --pipe, tvctl decompresses and feeds the stream; with --file, the layer is a region
 * of a file that we read ourselves (see open_file_input). Either way we hash the stream (the diff ID) on a
 * second thread while this one unpacks.
 *
 *   tvuntar DEST SPLITDIR|- [--pipe | --file PATH OFFSET LENGTH | --pipe-rest PREFIX LENGTH|-]
 *   tvuntar --prefetch ARCHIVE DATAROOT -- COMMAND [ARG...]   (see prefetch_main)
 *
 * Result on stdout, one line: "ok SIZE WHITEOUTS TARSIZE DIGEST" (bytes of regular-file content,
 * whiteouts converted, bytes of the stream, "sha256:HEX" of the stream)
 * or "error CODE MESSAGE" (CODE: BAD_LAYER, BAD_TAR, NO_SPACE; with --pipe-rest also CUT: the input ended, or
 * could not be read, before the layer did; otherwise its stdin is left just past the layer); the exit status is 0 either way, so a
 * non-zero status means the helper itself broke.
 *
 * Safety: entry paths are cleaned lexically (`..` above the root is an error, absolute paths are taken
 * relative to it); every node we create is recorded, so a path whose parent is a symlink or a file is
 * refused before any system call; the parent directory is opened with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV) (or one O_NOFOLLOW component at a time
 * while creating missing directories), and the entry itself is created relative to that fd with
 * O_EXCL|O_NOFOLLOW / mkdirat / symlinkat / mknodat: nothing is written outside DEST. Hard links may
 * only point at non-directories created earlier in this layer.
 *
 * Whiteouts become overlayfs whiteouts: ".wh.NAME" -> a 0:0 character device NAME, ".wh..wh..opq" ->
 * trusted.overlay.opaque=y on the directory. Only user.* and security.capability xattrs are taken
 * from the archive. Directory owners, modes, xattrs and times are applied at the end, deepest first.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/openat2.h>
/* the one-shot SHA-256 functions: EVP would pull OpenSSL's provider machinery into this static binary */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/statfs.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#define NAME_MAX_ 255
#define PATH_MAX_ 4095
#define META_LIMIT (1 << 20)
/* metadata held in memory: pax and long names before one entry, global pax of the archive, bytes after
 * the end-of-archive blocks (kept for the tar-split). A few KB of zstd can expand to gigabytes. */
#define META_TOTAL_LIMIT (16u << 20)
#define BUF_CAP (4 << 20)
#define READ_CHUNK (256 << 10)

/* ---------- result / errors ---------- */

static void finish_error(const char *code, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
/*
 * One result line, from whichever thread (or signal handler) gets there first: the others wait for the
 * process to end, so an error from one thread is never followed by another thread's.
 */
static atomic_int said;
static void claim_result(void) {
  if (atomic_exchange(&said, 1))
    for (;;) pause();
}

/* --pipe-rest: our stdin is tvctl's; after an error in the layer, read the rest of it anyway (see below).
 * ring_cut: the input ended before the layer did (then the error's code is CUT: tvctl cannot go on). */
static int rest_mode_on, draining, ring_cut;
static pthread_t main_tid;
static void drain_input(void);

static void finish_error(const char *code, const char *fmt, ...) {
  claim_result();
  /* From the parser: tvctl goes on reading the archive after the layer (an unusable layer is an error
   * only if an image uses it), so leave its stdin just past the layer, as on success. */
  if (rest_mode_on && pthread_equal(pthread_self(), main_tid)) drain_input();
  if (rest_mode_on && (ring_cut || !pthread_equal(pthread_self(), main_tid))) code = "CUT";
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

static void sys_fail(const char *op, const char *rel) __attribute__((noreturn));
static void sys_fail(const char *op, const char *rel) {
  int e = errno;
  if (e == ENOSPC || e == EDQUOT) finish_error("NO_SPACE", "no space left on device while unpacking a layer");
  finish_error("BAD_LAYER", "unpacking layer failed: %s \"%s\": %s", op, rel, strerror(e));
}

static void tar_fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void tar_fail(const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  finish_error("BAD_TAR", "layer is not a valid tar archive: %s", msg);
}

#define TRUNCATED() tar_fail("unexpected end of archive (truncated file?)")

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) finish_error("BAD_LAYER", "unpacking layer failed: out of memory");
  return p;
}
static void *xrealloc(void *p, size_t n) {
  p = realloc(p, n ? n : 1);
  if (!p) finish_error("BAD_LAYER", "unpacking layer failed: out of memory");
  return p;
}

/* A printable prefix of a name for messages (the JS side cuts at 40/60 characters too). */
static const char *clip(const char *s, size_t n, char *out) {
  size_t l = strnlen(s, n);
  memcpy(out, s, l);
  out[l] = 0;
  return out;
}

/* ---------- input ---------- */

static int infd = 0;
static unsigned char *buf;
static size_t bstart, bend;
static int in_eof;
static uint64_t consumed; /* bytes of the stream handed out so far */
/* --file without a lease: the region's length. The ring reader stops when its head reaches it; the plain
 * reader (no ring) counts it down instead. */
static uint64_t in_left = UINT64_MAX;
/* --pipe-rest: where the stream goes on once infd (the prefix file) ends, and for how many bytes */
static int next_fd = -1;
static uint64_t next_left;
/* the digest of every byte of the stream */
static SHA256_CTX sha;

static size_t avail(void) { return bend - bstart; }
static void write_all(int fd, const void *p, size_t n, const char *rel);

/*
 * A stream (stdin, --pipe) is read by a second thread into a ring and hashed there while this thread
 * unpacks. The ring is one memfd mapped twice in a row, so that any RING bytes from any offset of the
 * first mapping are contiguous: the parser sees buf + bstart .. buf + bend as before. Positions are
 * stream offsets: the reader owns [head, tail + RING), the parser [tail, head); base is the stream
 * offset of buf[0], and bstart is brought back under RING whenever the parser asks for more.
 */
#define RING (8u << 20)
static int ring_on;
static pthread_t reader;
static pthread_mutex_t ring_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ring_data = PTHREAD_COND_INITIALIZER, ring_space = PTHREAD_COND_INITIALIZER;
static uint64_t ring_head, ring_tail, ring_base, ring_told;
static int ring_eof, ring_err;

static void *read_ring(void *arg) {
  (void)arg;
  uint64_t head = 0;
  for (;;) {
    pthread_mutex_lock(&ring_mu);
    while (head - ring_tail == RING) pthread_cond_wait(&ring_space, &ring_mu);
    size_t room = RING - (size_t)(head - ring_tail);
    pthread_mutex_unlock(&ring_mu);
    if (room > READ_CHUNK) room = READ_CHUNK;
    if (room > in_left - head) room = (size_t)(in_left - head); /* a region of a file: its end */
    unsigned char *p = buf + head % RING;
    ssize_t n = 0;
    while (room > 0 && (n = read(infd, p, room)) < 0 && (errno == EINTR || errno == EAGAIN)) {
      if (errno == EAGAIN) { /* a non-blocking stdin */
        struct pollfd pf = {.fd = infd, .events = POLLIN};
        poll(&pf, 1, -1);
      }
    }
    if (n == 0 && next_fd >= 0) {
      /* --pipe-rest: the prefix is read; the rest of the layer comes from stdin, exactly next_left bytes */
      close(infd);
      infd = next_fd;
      next_fd = -1;
      in_left = next_left == UINT64_MAX ? UINT64_MAX : head + next_left; /* "-": to the end */
      continue;
    }
    int err = n < 0 ? errno : 0;
    if (n <= 0 && rest_mode_on && in_left != UINT64_MAX && head < in_left) ring_cut = 1; /* ended inside the layer */
    if (n > 0) SHA256_Update(&sha, p, (size_t)n);
    pthread_mutex_lock(&ring_mu);
    if (n > 0)
      ring_head = head += (uint64_t)n;
    else
      ring_eof = 1, ring_err = err;
    pthread_cond_signal(&ring_data);
    pthread_mutex_unlock(&ring_mu);
    if (n <= 0) return NULL;
  }
}

/* Hands the bytes before bstart back to the reader (every RING/8 bytes, so it keeps reading ahead). */
static void ring_release(int now) {
  uint64_t done = ring_base + bstart;
  if (!now && done - ring_told < RING / 8) return;
  pthread_mutex_lock(&ring_mu);
  ring_tail = ring_told = done;
  pthread_cond_signal(&ring_space);
  pthread_mutex_unlock(&ring_mu);
}

static int ring_start(void) {
  int fd = memfd_create("tvuntar-ring", MFD_CLOEXEC);
  if (fd < 0) return 0;
  unsigned char *m = MAP_FAILED;
  if (ftruncate(fd, RING) == 0) m = mmap(NULL, 2 * (size_t)RING, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m != MAP_FAILED && (mmap(m, RING, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED ||
                          mmap(m + RING, RING, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED)) {
    munmap(m, 2 * (size_t)RING);
    m = MAP_FAILED;
  }
  close(fd);
  if (m == MAP_FAILED) return 0;
  buf = m;
  if (pthread_create(&reader, NULL, read_ring, NULL) != 0) {
    buf = NULL;
    munmap(m, 2 * (size_t)RING);
    return 0;
  }
  return ring_on = 1;
}

static size_t fill_ring(void) {
  if (bstart >= RING) {
    bstart -= RING;
    bend -= RING;
    ring_base += RING;
  }
  ring_release(1);
  pthread_mutex_lock(&ring_mu);
  while (ring_head == ring_base + bend && !ring_eof) pthread_cond_wait(&ring_data, &ring_mu);
  size_t n = (size_t)(ring_head - (ring_base + bend));
  int err = ring_err;
  pthread_mutex_unlock(&ring_mu);
  if (n == 0) {
    if (err && !draining) {
      errno = err;
      sys_fail("read", "<input>");
    }
    in_eof = 1;
  }
  bend += n;
  return n;
}

/* Reads and drops the rest of the input (up to --pipe-rest's length, or its end, or a read error). */
static void drain_input(void) {
  if (!ring_on) return;
  draining = 1;
  do
    bstart = bend;
  while (fill_ring() > 0);
}

/* Plain reads into a linear buffer, hashed as they come (--file without a lease, or no ring). */
static size_t fill(void) {
  if (in_eof) return 0;
  if (ring_on) return fill_ring();
  if (bstart > 0 && (bend == bstart || BUF_CAP - bend < READ_CHUNK)) {
    memmove(buf, buf + bstart, bend - bstart);
    bend -= bstart;
    bstart = 0;
  }
  size_t room = BUF_CAP - bend;
  if (room > READ_CHUNK) room = READ_CHUNK;
  if (room > in_left) room = (size_t)in_left;
  if (room == 0) {
    in_eof = 1;
    return 0;
  }
  for (;;) {
    ssize_t n = read(infd, buf + bend, room);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) sys_fail("read", "<input>");
    if (n == 0) in_eof = 1;
    SHA256_Update(&sha, buf + bend, (size_t)n);
    in_left -= (uint64_t)n;
    bend += (size_t)n;
    return (size_t)n;
  }
}

/* The parser is done with the next k buffered bytes. */
static void advance(size_t k) {
  bstart += k;
  consumed += k;
  if (ring_on) ring_release(0);
}

/* At least n bytes buffered (n <= BUF_CAP - READ_CHUNK, or RING with the ring); false at end of input. */
static int ensure(size_t n) {
  while (avail() < n)
    if (fill() == 0) return 0;
  return 1;
}

/* ---------- tar-split ---------- */

static int split_on;
static unsigned char *raw;
static size_t rawlen, rawcap;
struct order_item {
  int is_file;
  size_t a, b; /* raw: offset, length; file: ref index */
};
static struct order_item *order;
static size_t norder, ordercap;
struct ref {
  uint64_t size;
  char *path;
};
static struct ref *refs;
static size_t nrefs, refcap;

static void raw_add(const unsigned char *p, size_t n) {
  if (!split_on || n == 0) return;
  if (rawlen + n > rawcap) {
    while (rawlen + n > rawcap) rawcap = rawcap ? rawcap * 2 : (1 << 20);
    raw = xrealloc(raw, rawcap);
  }
  memcpy(raw + rawlen, p, n);
  if (norder && !order[norder - 1].is_file) {
    order[norder - 1].b += n;
  } else {
    if (norder == ordercap) order = xrealloc(order, (ordercap = ordercap ? ordercap * 2 : 1024) * sizeof *order);
    order[norder++] = (struct order_item){0, rawlen, n};
  }
  rawlen += n;
}

static long file_ref_add(uint64_t size, const char *rel) {
  if (!split_on) return -1;
  if (nrefs == refcap) refs = xrealloc(refs, (refcap = refcap ? refcap * 2 : 1024) * sizeof *refs);
  size_t l = strlen(rel);
  char *p = xmalloc(l + 4);
  memcpy(p, "fs/", 3);
  memcpy(p + 3, rel, l + 1);
  refs[nrefs] = (struct ref){size, p};
  if (norder == ordercap) order = xrealloc(order, (ordercap = ordercap ? ordercap * 2 : 1024) * sizeof *order);
  order[norder++] = (struct order_item){1, nrefs, 0};
  return (long)nrefs++;
}

/* Consumes n buffered-or-not bytes of metadata/padding, recording them as raw. */
static void consume_raw(size_t n) {
  while (n > 0) {
    if (avail() == 0 && fill() == 0) TRUNCATED();
    size_t k = avail() < n ? avail() : n;
    raw_add(buf + bstart, k);
    advance(k);
    n -= k;
  }
}

static void skip_raw(uint64_t n) {
  while (n > 0) {
    if (avail() == 0 && fill() == 0) TRUNCATED();
    size_t k = avail() < n ? avail() : (size_t)n;
    raw_add(buf + bstart, k);
    advance(k);
    n -= k;
  }
}

static void put_be(unsigned char *p, uint64_t v, int n) {
  for (int i = n - 1; i >= 0; i--, v >>= 8) p[i] = (unsigned char)(v & 0xff);
}

static void write_all(int fd, const void *p, size_t n, const char *rel) {
  const unsigned char *c = p;
  while (n > 0) {
    ssize_t w = write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) sys_fail("write", rel);
    c += w;
    n -= (size_t)w;
  }
}

static void split_write(int layerfd) {
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
  for (size_t i = 0; i < norder; i++) {
    if (!order[i].is_file) {
      /* the JS reader caps nothing, but a u32 length does: split huge runs */
      size_t off = order[i].a, left = order[i].b;
      while (left > 0) {
        size_t k = left > 0x7fffffff ? 0x7fffffff : left;
        ROOM(5 + k);
        out[len] = 'R';
        put_be(out + len + 1, k, 4);
        len += 5;
        if (len + k <= cap) {
          memcpy(out + len, raw + off, k);
          len += k;
        } else {
          write_all(fd, out, len, "tar-split");
          len = 0;
          write_all(fd, raw + off, k, "tar-split");
        }
        off += k;
        left -= k;
      }
    } else {
      struct ref *r = &refs[order[i].a];
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

/* ---------- the table of nodes we created ---------- */

enum kind { K_DIR = 1, K_FILE, K_SYMLINK, K_SPECIAL };

struct xattr {
  char *name;
  unsigned char *value;
  size_t len;
};

struct node {
  char *key;
  size_t klen;
  uint64_t hash;
  int kind;
  long ref;
  /* directories: metadata from a Directory entry, applied at the end */
  int has_meta, has_mtime, opaque;
  unsigned mode, uid, gid;
  struct timespec mtime;
  struct xattr *xattrs;
  size_t nxattrs;
};

static struct node **slots;
static size_t nslots, nused, nlive;
static struct node tomb_;
#define TOMB (&tomb_)

static uint64_t hash_of(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
  return h;
}

static void free_xattrs(struct xattr *x, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(x[i].name);
    free(x[i].value);
  }
  free(x);
}

static void table_grow(void) {
  size_t old = nslots;
  struct node **os = slots;
  nslots = old ? old * 2 : 1 << 14;
  while (nlive * 2 >= nslots) nslots *= 2;
  slots = calloc(nslots, sizeof *slots);
  if (!slots) finish_error("BAD_LAYER", "unpacking layer failed: out of memory");
  nused = nlive;
  for (size_t i = 0; i < old; i++) {
    struct node *n = os[i];
    if (!n || n == TOMB) continue;
    size_t j = n->hash & (nslots - 1);
    while (slots[j]) j = (j + 1) & (nslots - 1);
    slots[j] = n;
  }
  free(os);
}

static struct node *lookup(const char *k, size_t n) {
  if (!nslots) return NULL;
  uint64_t h = hash_of(k, n);
  for (size_t j = h & (nslots - 1);; j = (j + 1) & (nslots - 1)) {
    struct node *s = slots[j];
    if (!s) return NULL;
    if (s != TOMB && s->hash == h && s->klen == n && memcmp(s->key, k, n) == 0) return s;
  }
}

static struct node *insert(const char *k, size_t n, int kind) {
  if ((nused + 1) * 2 >= nslots) table_grow();
  uint64_t h = hash_of(k, n);
  size_t j = h & (nslots - 1);
  while (slots[j] && slots[j] != TOMB) j = (j + 1) & (nslots - 1);
  struct node *nd = calloc(1, sizeof *nd);
  if (!nd) finish_error("BAD_LAYER", "unpacking layer failed: out of memory");
  nd->key = xmalloc(n + 1);
  memcpy(nd->key, k, n);
  nd->key[n] = 0;
  nd->klen = n;
  nd->hash = h;
  nd->kind = kind;
  nd->ref = -1;
  if (!slots[j]) nused++;
  slots[j] = nd;
  nlive++;
  return nd;
}

static void drop_slot(size_t j) {
  struct node *n = slots[j];
  free(n->key);
  free_xattrs(n->xattrs, n->nxattrs);
  free(n);
  slots[j] = TOMB;
  nlive--;
}

static void table_delete(const char *k, size_t n) {
  if (!nslots) return;
  uint64_t h = hash_of(k, n);
  for (size_t j = h & (nslots - 1);; j = (j + 1) & (nslots - 1)) {
    struct node *s = slots[j];
    if (!s) return;
    if (s != TOMB && s->hash == h && s->klen == n && memcmp(s->key, k, n) == 0) {
      drop_slot(j);
      return;
    }
  }
}

static int under(const struct node *n, const char *prefix, size_t plen) {
  return n->klen > plen && n->key[plen] == '/' && memcmp(n->key, prefix, plen) == 0;
}

/* ---------- paths ---------- */

static int rootfd = -1, layerfd = -1, splitdatafd = -1;
static int privileged;
static unsigned preserved;
static uint64_t total_size, whiteouts;
static const char *entry_path; /* the entry's path as written in the archive, for messages */

/*
 * Normalizes p to components relative to the root (absolute paths are taken relative to it; `..`
 * above it is an error). Writes the joined path to out (PATH_MAX_+1 bytes), returns its length.
 */
static size_t clean_path(const char *p, char *out, const char *what) {
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

static int openat2_beneath(int dirfd, const char *path, int flags) {
  struct open_how how = {.flags = (uint64_t)flags | O_CLOEXEC,
                         .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV};
  for (;;) {
    int fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    if (fd < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    return fd;
  }
}

/* The most recently used parent directories (entries come grouped by directory, with subdirectories
 * interleaved), so that most entries cost no path lookup. */
#define NCACHE 16
static struct {
  char key[PATH_MAX_ + 1];
  size_t len;
  int fd;
  unsigned long used;
} cache[NCACHE];
static unsigned long cache_tick;

static void cache_init(void) {
  for (int i = 0; i < NCACHE; i++) cache[i].fd = -1;
}

/* Forgets rel and everything below it (it is being removed). */
static void cache_drop_under(const char *rel, size_t len) {
  for (int i = 0; i < NCACHE; i++)
    if (cache[i].fd >= 0 && cache[i].len >= len && memcmp(cache[i].key, rel, len) == 0 &&
        (cache[i].len == len || cache[i].key[len] == '/')) {
      close(cache[i].fd);
      cache[i].fd = -1;
    }
}

static void cache_drop_all(void) {
  for (int i = 0; i < NCACHE; i++)
    if (cache[i].fd >= 0) {
      close(cache[i].fd);
      cache[i].fd = -1;
    }
}

static void cache_put(const char *rel, size_t plen, int fd) {
  int slot = 0;
  for (int i = 0; i < NCACHE; i++) {
    if (cache[i].fd < 0) {
      slot = i;
      break;
    }
    if (cache[i].used < cache[slot].used) slot = i;
  }
  if (cache[slot].fd >= 0) close(cache[slot].fd);
  memcpy(cache[slot].key, rel, plen);
  cache[slot].len = plen;
  cache[slot].fd = fd;
  cache[slot].used = ++cache_tick;
}

/*
 * Makes sure every parent of rel is a directory (creating missing ones, as the JS side does) and returns
 * an fd of the parent (rootfd for a top-level name). Refuses a parent that is a symlink or a file.
 */
static int parent_fd(const char *rel, size_t len) {
  const char *slash = memrchr(rel, '/', len);
  if (!slash) return rootfd;
  size_t plen = (size_t)(slash - rel);
  for (int i = 0; i < NCACHE; i++)
    if (cache[i].fd >= 0 && cache[i].len == plen && memcmp(cache[i].key, rel, plen) == 0) {
      struct node *n = lookup(rel, plen);
      if (n && n->kind == K_DIR) {
        cache[i].used = ++cache_tick;
        return cache[i].fd;
      }
    }
  /* check every prefix against what we created */
  size_t first_missing = (size_t)-1;
  for (size_t i = 0; i <= plen; i++) {
    if (i < plen && rel[i] != '/') continue;
    struct node *n = lookup(rel, i);
    if (!n) {
      first_missing = i;
      break;
    }
    if (n->kind != K_DIR) {
      char k[PATH_MAX_ + 1];
      memcpy(k, rel, i);
      k[i] = 0;
      finish_error("BAD_LAYER", "entry \"%s\" would be written through %s \"%s\"; refusing", entry_path,
                   n->kind == K_SYMLINK ? "the symbolic link" : "the non-directory", k);
    }
  }
  char path[PATH_MAX_ + 1];
  memcpy(path, rel, plen);
  path[plen] = 0;
  int fd;
  if (first_missing == (size_t)-1) {
    fd = openat2_beneath(rootfd, path, O_PATH | O_DIRECTORY);
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
      fd = openat2_beneath(rootfd, path, O_PATH | O_DIRECTORY);
      if (fd < 0) sys_fail("open", path);
      path[at - 1] = '/';
    } else {
      fd = openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0) sys_fail("open", ".");
    }
    while (at < plen) {
      size_t end = at;
      while (end < plen && rel[end] != '/') end++;
      char comp[NAME_MAX_ + 1];
      memcpy(comp, rel + at, end - at);
      comp[end - at] = 0;
      struct node *n = lookup(rel, end);
      if (!n) {
        if (mkdirat(fd, comp, 0755) < 0) sys_fail("mkdir", rel);
        insert(rel, end, K_DIR);
      } else if (n->kind != K_DIR) {
        char k[PATH_MAX_ + 1];
        memcpy(k, rel, end);
        k[end] = 0;
        finish_error("BAD_LAYER", "entry \"%s\" would be written through %s \"%s\"; refusing", entry_path,
                     n->kind == K_SYMLINK ? "the symbolic link" : "the non-directory", k);
      }
      int nfd = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (nfd < 0) sys_fail("open", rel);
      close(fd);
      fd = nfd;
      at = end + 1;
    }
  }
  cache_put(rel, plen, fd);
  return fd;
}

static const char *base_of(const char *rel, size_t len) {
  const char *s = memrchr(rel, '/', len);
  return s ? s + 1 : rel;
}

/* An fd of rel's parent for occasional use (caller closes it unless it is rootfd). */
static int open_parent(const char *rel, const char **name) {
  size_t len = strlen(rel);
  *name = base_of(rel, len);
  if (*name == rel) return rootfd;
  char p[PATH_MAX_ + 1];
  size_t pl = (size_t)(*name - rel) - 1;
  memcpy(p, rel, pl);
  p[pl] = 0;
  int fd = openat2_beneath(rootfd, p, O_PATH | O_DIRECTORY);
  if (fd < 0) sys_fail("open", p);
  return fd;
}

/* The file is about to be replaced: keep its content for the tar-split rebuild. */
static void preserve(long ref, int dirfd, const char *name, const char *rel) {
  if (splitdatafd < 0) {
    if (mkdirat(layerfd, "split-data", 0700) < 0 && errno != EEXIST) sys_fail("mkdir", "split-data");
    splitdatafd = openat(layerfd, "split-data", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (splitdatafd < 0) sys_fail("open", "split-data");
  }
  char to[32];
  snprintf(to, sizeof to, "%u", preserved);
  if (renameat(dirfd, name, splitdatafd, to) < 0) sys_fail("rename", rel);
  char *p = xmalloc(48);
  snprintf(p, 48, "split-data/%u", preserved++);
  free(refs[ref].path);
  refs[ref].path = p;
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

/* Removes what an earlier entry created at rel (dirfd/name: its parent and base name). */
static void remove_node(const char *rel, size_t len, int dirfd, const char *name) {
  struct node *n = lookup(rel, len);
  if (!n) return;
  int kind = n->kind;
  long ref = n->ref;
  table_delete(rel, len);
  if (kind == K_DIR) {
    cache_drop_under(rel, len);
    /* keep the contents of files below for the tar-split, then drop the whole subtree */
    struct node **below = NULL;
    size_t nb = 0, cb = 0;
    for (size_t j = 0; j < nslots; j++) {
      struct node *s = slots[j];
      if (!s || s == TOMB || !under(s, rel, len)) continue;
      if (s->ref >= 0) {
        if (nb == cb) below = xrealloc(below, (cb = cb ? cb * 2 : 64) * sizeof *below);
        below[nb++] = s;
      }
    }
    for (size_t i = 0; i < nb; i++) {
      const char *nm;
      int pfd = open_parent(below[i]->key, &nm);
      preserve(below[i]->ref, pfd, nm, below[i]->key);
      if (pfd != rootfd) close(pfd);
    }
    free(below);
    rmtree_at(dirfd, name, rel);
    for (size_t j = 0; j < nslots; j++) {
      struct node *s = slots[j];
      if (s && s != TOMB && under(s, rel, len)) drop_slot(j);
    }
  } else if (kind == K_FILE && ref >= 0) {
    preserve(ref, dirfd, name, rel);
  } else {
    if (unlinkat(dirfd, name, 0) < 0) sys_fail("unlink", rel);
  }
}

/* ---------- tar headers ---------- */

struct kv {
  char *key;
  unsigned char *val;
  size_t len;
};
struct kvlist {
  struct kv *v;
  size_t n, cap;
};

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

static void kv_clear(struct kvlist *l) {
  for (size_t i = 0; i < l->n; i++) {
    free(l->v[i].key);
    free(l->v[i].val);
  }
  l->n = 0;
}

static const struct kv *kv_get(const struct kvlist *l, const char *k) {
  for (size_t i = 0; i < l->n; i++)
    if (!strcmp(l->v[i].key, k)) return &l->v[i];
  return NULL;
}

static void parse_pax(const unsigned char *d, size_t n, struct kvlist *into) {
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
static uint64_t hnum(const unsigned char *f, size_t n, int *ok) {
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

static void hstr(const unsigned char *f, size_t n, char *out) {
  size_t l = strnlen((const char *)f, n);
  memcpy(out, f, l);
  out[l] = 0;
}

static const char *type_name(char t) {
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

static int allowed_xattr(const char *name) {
  return !strncmp(name, "user.", 5) || !strcmp(name, "security.capability");
}

struct entry {
  char path[PATH_MAX_ * 2 + 2]; /* as written (before cleaning), for messages */
  char linkpath[PATH_MAX_ * 2 + 2];
  char type;
  unsigned mode, uid, gid, devmajor, devminor;
  uint64_t size;
  int has_mtime;
  struct timespec mtime;
  struct xattr *xattrs;
  size_t nxattrs;
};

static uint64_t pax_num(const struct kvlist *l, const struct kvlist *g, const char *k, uint64_t d) {
  const struct kv *v = kv_get(l, k);
  if (!v) v = kv_get(g, k);
  if (!v) return d;
  char *end;
  errno = 0;
  double x = strtod((const char *)v->val, &end);
  if (errno || end == (const char *)v->val || x < 0) tar_fail("bad pax %s", k);
  return (uint64_t)x;
}

/* ---------- applying entries ---------- */

static void set_xattrs_fd(int fd, const struct xattr *x, size_t n, const char *rel) {
  for (size_t i = 0; i < n; i++) {
    if (fsetxattr(fd, x[i].name, x[i].value, x[i].len, 0) < 0) {
      if (errno == EOPNOTSUPP || (!privileged && errno == EPERM)) continue; /* as GNU tar: a warning */
      sys_fail("setxattr", rel);
    }
  }
}

static void need_root(void) {
  if (!privileged)
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
static void body_to_fd(int fd, uint64_t size, const char *rel) {
  uint64_t left = size;
  while (left > 0) {
    if (avail() > 0) {
      size_t k = avail() < left ? avail() : (size_t)left;
      write_all(fd, buf + bstart, k, rel);
      advance(k);
      left -= k;
      continue;
    }
    if (fill() == 0) TRUNCATED();
  }
}

static void times_of(const struct entry *e, struct timespec ts[2]) {
  ts[0] = e->mtime;
  ts[1] = e->mtime;
}

/* The layer root's own metadata ("./") and opaque marker. */
static int root_opaque;
static struct node root_node;
/* chown even 0:0 entries when new nodes would not be 0:0 anyway (setgid root, another group) */
static int always_chown;

/* Handles one entry. Returns the number of data bytes it consumed (the rest is skipped as raw). */
static uint64_t apply(struct entry *e, uint64_t data_len) {
  char rel[PATH_MAX_ + 1];
  entry_path = e->path;
  size_t len = clean_path(e->path, rel, "entry");
  const char *base = base_of(rel, len);
  size_t blen = len - (size_t)(base - rel);

  if (blen >= 4 && !memcmp(base, ".wh.", 4)) {
    if (!strcmp(base, ".wh..wh..opq")) {
      need_root();
      parent_fd(rel, len);
      size_t plen = base == rel ? 0 : (size_t)(base - rel) - 1;
      if (plen == 0) {
        root_opaque = 1;
      } else {
        struct node *n = lookup(rel, plen);
        if (n) n->opaque = 1;
      }
    } else if (blen >= 8 && !memcmp(base, ".wh..wh.", 8)) {
      /* aufs metadata (.wh..wh.plnk etc.): not part of the image content */
    } else {
      const char *name = base + 4;
      if (!*name || !strcmp(name, ".") || !strcmp(name, ".."))
        finish_error("BAD_LAYER", "whiteout \"%s\" points outside its directory", e->path);
      need_root();
      char target[PATH_MAX_ + 1];
      size_t tl = (size_t)(base - rel);
      memcpy(target, rel, tl);
      memcpy(target + tl, name, strlen(name) + 1);
      tl += strlen(name);
      int pfd = parent_fd(target, tl);
      remove_node(target, tl, pfd, name);
      if (mknodat(pfd, name, S_IFCHR | 0, makedev(0, 0)) < 0) sys_fail("mknod", target);
      if (e->has_mtime) {
        struct timespec ts[2];
        times_of(e, ts);
        if (utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0) sys_fail("utimes", target);
      }
      insert(target, tl, K_SPECIAL);
      whiteouts++;
    }
    return 0;
  }
  if (len == 0) {
    /* the layer root itself ("./"): keep its metadata */
    if (e->type == '5') {
      root_node.has_meta = 1;
      root_node.mode = e->mode;
      root_node.uid = e->uid;
      root_node.gid = e->gid;
      root_node.has_mtime = e->has_mtime;
      root_node.mtime = e->mtime;
    }
    return 0;
  }
  int pfd = parent_fd(rel, len);
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
  int chown_needed = privileged && (e->uid != 0 || e->gid != 0 || always_chown);

  switch (e->type) {
  case '5': {
    struct node *n = lookup(rel, len);
    if (!n || n->kind != K_DIR) {
      remove_node(rel, len, pfd, base);
      if (mkdirat(pfd, base, 0755) < 0) sys_fail("mkdir", rel);
      n = insert(rel, len, K_DIR);
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
    remove_node(rel, len, pfd, base);
    unsigned create_mode = (chown_needed || (e->mode & 07000)) ? 0600 : (e->mode & 0777);
    int fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, create_mode);
    if (fd < 0) sys_fail("open", rel);
    long ref = file_ref_add(e->size, rel);
    body_to_fd(fd, e->size, rel);
    if (chown_needed && fchown(fd, e->uid, e->gid) < 0) sys_fail("chown", rel);
    if (create_mode != e->mode && fchmod(fd, e->mode) < 0) sys_fail("chmod", rel); /* after chown */
    set_xattrs_fd(fd, e->xattrs, nx, rel);
    if (e->has_mtime && futimens(fd, ts) < 0) sys_fail("utimes", rel);
    if (close(fd) < 0) sys_fail("close", rel);
    struct node *n = insert(rel, len, K_FILE);
    n->ref = ref;
    total_size += e->size;
    return data_len;
  }
  case '2': {
    remove_node(rel, len, pfd, base);
    if (symlinkat(e->linkpath, pfd, base) < 0) sys_fail("symlink", rel);
    if (chown_needed && fchownat(pfd, base, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0) sys_fail("chown", rel);
    if (e->has_mtime && utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0) sys_fail("utimes", rel);
    insert(rel, len, K_SYMLINK);
    return 0;
  }
  case '1': {
    char target[PATH_MAX_ + 1];
    size_t tl = clean_path(e->linkpath, target, "hard link target");
    struct node *t = lookup(target, tl);
    if (!t || t->kind == K_DIR)
      finish_error("BAD_LAYER", "hard link \"%s\" points at \"%s\", which is not a file earlier in this layer",
                   e->path, e->linkpath);
    if (tl == len && !memcmp(target, rel, len)) return 0;
    int tkind = t->kind;
    remove_node(rel, len, pfd, base);
    const char *tname;
    int tfd = open_parent(target, &tname);
    if (linkat(tfd, tname, pfd, base, 0) < 0) sys_fail("link", rel);
    if (tfd != rootfd) close(tfd);
    insert(rel, len, tkind);
    return 0;
  }
  case '3':
  case '4':
  case '6': {
    need_root();
    remove_node(rel, len, pfd, base);
    mode_t type = e->type == '3' ? S_IFCHR : e->type == '4' ? S_IFBLK : S_IFIFO;
    if (mknodat(pfd, base, type | (e->mode & 0777), makedev(e->devmajor, e->devminor)) < 0) sys_fail("mknod", rel);
    if (chown_needed && fchownat(pfd, base, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0) sys_fail("chown", rel);
    if ((e->mode & 07000) || chown_needed)
      if (fchmodat(pfd, base, e->mode, 0) < 0) sys_fail("chmod", rel);
    if (e->has_mtime && utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0) sys_fail("utimes", rel);
    insert(rel, len, K_SPECIAL);
    return 0;
  }
  default:
    finish_error("BAD_LAYER", "entry \"%s\" has an unsupported type (%s)", e->path, type_name(e->type));
  }
}

static void apply_dir(const char *rel, const struct node *n, int opaque) {
  int fd = *rel ? openat2_beneath(rootfd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
                : openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) sys_fail("open", *rel ? rel : ".");
  if (n->has_meta) {
    /* we made it root:root 0755 (umask 0); change only what differs */
    int chown_needed = privileged && (n->uid != 0 || n->gid != 0 || always_chown);
    if (chown_needed && fchown(fd, n->uid, n->gid) < 0) sys_fail("chown", rel);
    if ((chown_needed || n->mode != 0755 || !*rel) && fchmod(fd, n->mode) < 0) sys_fail("chmod", rel);
  }
  set_xattrs_fd(fd, n->xattrs, n->nxattrs, rel);
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

static void finish_dirs(void) {
  struct node **dirs = xmalloc((nlive + 1) * sizeof *dirs);
  size_t nd = 0;
  for (size_t j = 0; j < nslots; j++) {
    struct node *s = slots[j];
    if (s && s != TOMB && s->kind == K_DIR && (s->has_meta || s->opaque || s->nxattrs)) dirs[nd++] = s;
  }
  qsort(dirs, nd, sizeof *dirs, deeper_first);
  for (size_t i = 0; i < nd; i++) apply_dir(dirs[i]->key, dirs[i], dirs[i]->opaque);
  if (root_node.has_meta || root_opaque) apply_dir("", &root_node, root_opaque);
  free(dirs);
}

/* ---------- the stream ---------- */

static int is_zero(const unsigned char *b) {
  for (int i = 0; i < 512; i++)
    if (b[i]) return 0;
  return 1;
}

static int checksum_ok(const unsigned char *h) {
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

static void run(void) {
  struct kvlist pax = {0}, gpax = {0};
  char *long_path = NULL, *long_link = NULL;
  int saw_entry = 0;
  uint64_t meta_bytes = 0, global_bytes = 0;
  static struct entry e;
  for (;;) {
    if (!ensure(512)) {
      if (avail() == 0 && saw_entry) return; /* no end-of-archive blocks: accept, as GNU tar does */
      TRUNCATED();
    }
    unsigned char h[512];
    memcpy(h, buf + bstart, 512);
    if (is_zero(h)) {
      consume_raw(512);
      return;
    }
    if (!checksum_ok(h)) tar_fail("not a tar archive (bad header checksum at byte %llu)", (unsigned long long)consumed);
    consume_raw(512);
    char t = (char)h[156];
    if (t == 0) t = '0';
    int ok;
    uint64_t hsize = hnum(h + 124, 12, &ok);
    if (!ok) hsize = 0;
    if (t == 'x' || t == 'X' || t == 'g' || t == 'L' || t == 'N' || t == 'K') {
      if (hsize > META_LIMIT) tar_fail("tar metadata record too large (%llu bytes)", (unsigned long long)hsize);
      if ((t == 'g' ? (global_bytes += hsize) : (meta_bytes += hsize)) > META_TOTAL_LIMIT)
        tar_fail("more than %u MiB of tar metadata records", META_TOTAL_LIMIT >> 20);
      if (!ensure((size_t)hsize)) TRUNCATED();
      unsigned char *d = xmalloc(hsize + 1);
      memcpy(d, buf + bstart, hsize);
      d[hsize] = 0;
      consume_raw((size_t)hsize);
      skip_raw((512 - hsize % 512) % 512);
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
    uint64_t used = apply(&e, data_len);
    free_xattrs(e.xattrs, e.nxattrs);
    e.xattrs = NULL;
    e.nxattrs = 0;
    skip_raw(data_len - used + (512 - data_len % 512) % 512);
  }
}

/*
 * --pipe: the stream comes through a real pipe instead of stdin. Node gives a child's stdin as a unix
 * socket, and writing a layer into one costs tvctl several times more than into a pipe. We print
 * "pipe PID FD"; tvctl opens /proc/PID/fd/FD for writing and sends one byte on stdin; then we drop our
 * copy of the write end (so its close is our end of input) and print "go".
 */
static void open_pipe_input(void) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) sys_fail("pipe", "-");
  fcntl(p[0], F_SETPIPE_SZ, 1 << 20);
  printf("pipe %d %d\n", (int)getpid(), p[1]);
  fflush(stdout);
  char c;
  ssize_t n;
  while ((n = read(0, &c, 1)) < 0 && errno == EINTR) {
  }
  if (n != 1) finish_error("BAD_LAYER", "unpacking layer failed: tvctl did not open the input pipe");
  close(p[1]);
  infd = p[0];
  printf("go\n");
  fflush(stdout);
}

/*
 * --file PATH OFFSET LENGTH: the layer is that region of a file (an uncompressed layer inside an
 * uncompressed archive). We compute its SHA-256 here, over exactly the bytes we unpack.
 *
 * Fast path: a read lease (F_SETLEASE F_RDLCK). The kernel grants it only while nobody has the file open
 * for writing, and while we hold it any open for writing or truncate waits for us and first sends us
 * SIGIO, which ends the load with an error. So the file cannot change under us: the region is mapped,
 * parsed in place and hashed by a second thread on the other core, with no copy of the bytes.
 * Without a lease (a writer has the file open, a file system where the lease would not cover every way to
 * write the data, no CAP_LEASE) the region is read like a stream: into the ring, hashed by the reader.
 */
static const unsigned char *map_base;
static size_t map_len, map_skip;
static int lease_fd = -1;
static pthread_t hasher;

/* From a signal handler: if a result is already being printed (maybe by the very code it interrupted), let
 * that finish. */
/* A line with write(2) alone (async-signal-safe; no stdio). */
static void say_fd(int fd, const char *line) {
  for (size_t n = strlen(line); n > 0;) {
    ssize_t w = write(fd, line, n);
    if (w <= 0) return;
    line += w;
    n -= (size_t)w;
  }
}

static void say_and_exit(const char *line) {
  if (atomic_exchange(&said, 1)) return;
  say_fd(1, line);
  _exit(0);
}
static void on_lease_break(int sig) {
  (void)sig;
  say_and_exit("error BAD_LAYER the archive was opened for writing while it was being loaded; load it again\n");
}
static void on_bus_error(int sig) {
  (void)sig;
  say_and_exit("error BAD_LAYER reading the archive failed (I/O error, or the file shrank while it was loaded)\n");
}

static void *hash_region(void *arg) {
  (void)arg;
  for (size_t off = 0; off < map_len;) {
    size_t k = map_len - off < (1u << 20) ? map_len - off : (1u << 20);
    SHA256_Update(&sha, map_base + map_skip + off, k);
    off += k;
  }
  return NULL;
}

static int map_with_lease(int fd, uint64_t off, uint64_t len) {
  /* Only where the inode we lease is the one whose data we read: not overlayfs (its lower and upper files
   * can be written through their own paths), FUSE or network file systems. */
  struct statfs sf;
  if (fstatfs(fd, &sf) < 0) return 0;
  switch ((unsigned long)sf.f_type) {
  case EXT4_SUPER_MAGIC: /* also ext2 and ext3 */
  case XFS_SUPER_MAGIC:
  case BTRFS_SUPER_MAGIC:
  case TMPFS_MAGIC:
    break;
  default:
    return 0;
  }
  /* the handlers are in place before a lease break can be sent */
  sigset_t io, old;
  sigemptyset(&io);
  sigaddset(&io, SIGIO);
  sigprocmask(SIG_BLOCK, &io, &old);
  if (fcntl(fd, F_SETLEASE, F_RDLCK) < 0) {
    sigprocmask(SIG_SETMASK, &old, NULL);
    return 0;
  }
  struct sigaction sa = {0};
  sa.sa_handler = on_lease_break;
  sigaction(SIGIO, &sa, NULL);
  sa.sa_handler = on_bus_error;
  sigaction(SIGBUS, &sa, NULL);
  sigprocmask(SIG_SETMASK, &old, NULL);
  struct stat st;
  long page = sysconf(_SC_PAGESIZE);
  uint64_t start = off - off % (uint64_t)page;
  if (len == 0 || fstat(fd, &st) < 0 || off > (uint64_t)st.st_size || len > (uint64_t)st.st_size - off ||
      len > SIZE_MAX - page)
    goto no;
  /* No MADV_SEQUENTIAL: pages the hasher has read must stay for the parser, not be dropped and read again
   * from the device, which the lease does not cover. */
  void *m = mmap(NULL, (size_t)(off - start + len), PROT_READ, MAP_PRIVATE | MAP_NORESERVE, fd, (off_t)start);
  if (m == MAP_FAILED) goto no;
  map_base = m;
  map_skip = (size_t)(off - start);
  map_len = (size_t)len;
  lease_fd = fd;
  return 1;
no:
  signal(SIGIO, SIG_IGN);
  signal(SIGBUS, SIG_DFL);
  fcntl(fd, F_SETLEASE, F_UNLCK);
  return 0;
}

static int hasher_on;

static void open_file_input(const char *path, const char *offset, const char *length) {
  char *e1, *e2;
  errno = 0;
  unsigned long long off = strtoull(offset, &e1, 10), len = strtoull(length, &e2, 10);
  if (errno || *e1 || *e2) finish_error("BAD_LAYER", "unpacking layer failed: bad region %s+%s", offset, length);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) sys_fail("open", path);
  if (map_with_lease(fd, off, len)) {
    /* the whole region is the buffer: nothing more to read */
    buf = (unsigned char *)map_base + map_skip;
    bstart = 0;
    bend = map_len;
    in_eof = 1;
    if (pthread_create(&hasher, NULL, hash_region, NULL) != 0) hash_region(NULL);
    else hasher_on = 1;
    return;
  }
  if (lseek(fd, (off_t)off, SEEK_SET) < 0) sys_fail("seek", path);
  posix_fadvise(fd, (off_t)off, (off_t)len, POSIX_FADV_SEQUENTIAL);
  infd = fd;
  in_left = len;
  ring_start();
}

/* The stream's digest, once every byte of it was hashed; the lease can go then. */
static void finish_hash(char out[72]) {
  if (hasher_on) pthread_join(hasher, NULL);
  if (ring_on) pthread_join(reader, NULL); /* it stopped at the end of input, which we reached */
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256_Final(d, &sha);
  if (lease_fd >= 0) {
    /* Everything is read. If the lease was broken (or revoked after lease-break-time while we were stopped),
     * a writer may have changed the file meanwhile: do not rely on SIGIO having been handled in time. */
    if (fcntl(lease_fd, F_GETLEASE) != F_RDLCK) {
      on_lease_break(SIGIO);
      _exit(0);
    }
    signal(SIGIO, SIG_IGN);
    fcntl(lease_fd, F_SETLEASE, F_UNLCK);
  }
  memcpy(out, "sha256:", 7);
  for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) snprintf(out + 7 + 2 * i, 3, "%02x", d[i]);
}

static void *split_main(void *arg) {
  (void)arg;
  split_write(layerfd);
  return NULL;
}

static int untar_main(int argc, char **argv) {
  int pipe_mode = argc == 4 && !strcmp(argv[3], "--pipe");
  int file_mode = argc == 7 && !strcmp(argv[3], "--file");
  int rest_mode = argc == 6 && !strcmp(argv[3], "--pipe-rest");
  if (argc != 3 && !pipe_mode && !file_mode && !rest_mode) {
    fprintf(stderr, "usage: tvuntar DEST SPLITDIR|- [--pipe | --file PATH OFFSET LENGTH | --pipe-rest PREFIX LENGTH]\n");
    return 2;
  }
  /* Die with tvctl: nobody else wants the layer, and with --pipe-rest we would go on reading its stdin.
   * (No getppid() check: tvctl may itself be pid 1, in a container.) */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  main_tid = pthread_self();
  umask(0);
  cache_init();
  privileged = geteuid() == 0;
  SHA256_Init(&sha);
  if (pipe_mode) open_pipe_input();
  if (rest_mode) {
    /* the layer's first bytes are in the file PREFIX (what tvctl had already read of it), the rest is the
     * next LENGTH bytes of our stdin, tvctl's own (a pipe): read exactly those, so that tvctl goes on after */
    char *e = "";
    errno = 0;
    next_left = strcmp(argv[5], "-") ? strtoull(argv[5], &e, 10) : UINT64_MAX; /* "-": all of stdin */
    if (errno || *e) finish_error("BAD_LAYER", "unpacking layer failed: bad length %s", argv[5]);
    infd = open(argv[4], O_RDONLY | O_CLOEXEC);
    if (infd < 0) sys_fail("open", argv[4]);
    next_fd = 0;
    rest_mode_on = 1;
  }
  if (file_mode) {
    open_file_input(argv[4], argv[5], argv[6]);
  } else {
    /* a bigger pipe: fewer wake-ups between tvctl and us */
    fcntl(infd, F_SETPIPE_SZ, 1 << 20);
    /* (only the ring's reader goes on from the prefix to stdin) */
    if (!ring_start() && rest_mode) finish_error("BAD_LAYER", "unpacking layer failed: no memory for the input ring");
  }
  if (!buf) buf = xmalloc(BUF_CAP);
  rootfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (rootfd < 0) sys_fail("open", argv[1]);
  struct stat rst;
  if (fstat(rootfd, &rst) < 0) sys_fail("stat", argv[1]);
  always_chown = getegid() != 0 || (rst.st_mode & S_ISGID);
  split_on = strcmp(argv[2], "-") != 0;
  if (split_on) {
    layerfd = open(argv[2], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (layerfd < 0) sys_fail("open", argv[2]);
  }
  run();
  /* consume everything left, so the digest covers the whole stream; the tar-split keeps it, in memory */
  for (uint64_t trailing = 0;;) {
    if (avail() == 0 && fill() == 0) break;
    size_t k = avail();
    if ((trailing += k) > META_TOTAL_LIMIT)
      tar_fail("more than %u MiB of data after the end of the archive", META_TOTAL_LIMIT >> 20);
    raw_add(buf + bstart, k);
    advance(k);
  }
  cache_drop_all();
  /* the tar-split is written on another thread while this one sets the directories' metadata */
  pthread_t splitter;
  int split_thread = split_on && pthread_create(&splitter, NULL, split_main, NULL) == 0;
  if (split_on && !split_thread) split_write(layerfd);
  finish_dirs();
  if (split_thread) pthread_join(splitter, NULL);
  /* last, so that the hash thread's tail overlaps the directory metadata and the tar-split */
  char digest[72];
  finish_hash(digest);
  claim_result();
  printf("ok %llu %llu %llu %s\n", (unsigned long long)total_size, (unsigned long long)whiteouts,
         (unsigned long long)consumed, digest);
  fflush(stdout);
  return 0;
}

/* ---------- --prefetch: start the first layer while tvctl itself starts ---------- */

/*
 * tvuntar --prefetch ARCHIVE DATAROOT -- COMMAND [ARG...]
 *
 * bin/tvctl runs `tvctl image load` through this. We fork: this process execs COMMAND (Node running
 * tvctl) at once, under the same pid, and the child starts unpacking the first uncompressed layer of the
 * archive into the store's staging area (DATAROOT/images/tmp/PID-RANDOM/layer), in the ~70 ms that Node
 * needs to start. tvctl (src/images/prefetch.ts) adopts that directory only if, having read the archive
 * itself, it would have unpacked a layer from the same file (device and inode), offset and length; and it
 * checks the result (digest, size) as for a layer it unpacked itself. Otherwise it kills the child and
 * removes the directory. So nothing here decides anything, and any failure means only "no prefetch".
 *
 * $TVCTL_PREFETCH is "FD:PID": the pipe's read end and the child. The child writes on the pipe:
 *   "none" (no layer to start; nothing was created), or
 *   "prefetch PID DEV INO OFFSET LENGTH DIR" (before DIR exists), then the extractor's own result line.
 * It dies with its parent (PR_SET_PDEATHSIG); its directory is named after the parent's pid, so that a
 * later load sweeps it away if both were killed.
 */
#define PREFETCH_MIN (1u << 20) /* smaller layers unpack in a few ms anyway */
#define SCAN_ENTRIES 256

/* The first regular member (of at least PREFETCH_MIN bytes) whose content starts like a tar, skipping
 * layers the store already has (blobs/sha256/HEX with layers/HEX/layer.json: tvctl only verifies those). */
static int find_layer(int fd, const char *data, uint64_t *at, uint64_t *len) {
  unsigned char h[512], first[512];
  char name[PATH_MAX_ + 1] = "";
  uint64_t pos = 0, pax_size = 0;
  int have_pax_size = 0, have_name = 0;
  for (int n = 0; n < SCAN_ENTRIES; n++) {
    if (pread(fd, h, 512, (off_t)pos) != 512 || is_zero(h) || !checksum_ok(h)) return 0;
    int ok;
    uint64_t size = hnum(h + 124, 12, &ok);
    if (!ok) return 0;
    char type = (char)h[156];
    uint64_t data_at = pos + 512;
    if (type == 'x' || type == 'L') {
      /* extended name (and size) for the next member */
      if (size > 65536) return 0;
      unsigned char *d = xmalloc(size + 1);
      if (pread(fd, d, size, (off_t)data_at) != (ssize_t)size) return free(d), 0;
      d[size] = 0;
      if (type == 'L') {
        snprintf(name, sizeof name, "%s", (char *)d);
        have_name = 1;
      } else {
        for (size_t off = 0; off < size;) {
          char *end;
          unsigned long rl = strtoul((char *)d + off, &end, 10);
          if (rl == 0 || off + rl > size || *end != ' ') break;
          char *kv = end + 1, *stop = (char *)d + off + rl - 1;
          if (!strncmp(kv, "size=", 5)) {
            pax_size = strtoull(kv + 5, NULL, 10);
            have_pax_size = 1;
          } else if (!strncmp(kv, "path=", 5) && stop > kv + 5) {
            snprintf(name, sizeof name, "%.*s", (int)(stop - kv - 5), kv + 5);
            have_name = 1;
          }
          off += rl;
        }
      }
      free(d);
      pos = data_at + ((size + 511) & ~(uint64_t)511);
      continue;
    }
    if (type == 'g' || type == 'K') return 0; /* rare in image archives: not worth guessing */
    if (have_pax_size) size = pax_size;
    if (!have_name) {
      char pre[156] = "", nm[101];
      /* the prefix as tvctl's reader takes it: POSIX headers only (GNU keeps times there) */
      if (!memcmp(h + 257, "ustar\0" "00", 8)) hstr(h + 345, h[475] ? 155 : 130, pre);
      hstr(h, 100, nm);
      snprintf(name, sizeof name, "%s%s%s", pre, *pre ? "/" : "", nm);
    }
    if ((type == '0' || type == '\0' || type == '7') && size >= PREFETCH_MIN &&
        pread(fd, first, 512, (off_t)data_at) == 512 && !memcmp(first + 257, "ustar", 5)) {
      const char *p = name;
      while (*p == '.' || *p == '/') p++;
      char known[PATH_MAX_ + 64] = "";
      if (!strncmp(p, "blobs/sha256/", 13) && strlen(p + 13) == 64 && !strchr(p + 13, '/'))
        snprintf(known, sizeof known, "%s/images/layers/%s/layer.json", data, p + 13);
      if (!*known || access(known, F_OK) != 0) {
        *at = data_at;
        *len = size;
        return 1;
      }
    }
    have_pax_size = have_name = 0;
    pos = data_at + ((size + 511) & ~(uint64_t)511);
  }
  return 0;
}

/* fd at 3 or above (close-on-exec): 0-2 may be closed, and the child replaces them with /dev/null and the pipe */
static int high_fd(int fd) {
  if (fd < 0 || fd > 2) return fd;
  int h = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  close(fd);
  return h;
}

/* The child: find a layer, make its directory, unpack it with the result on the pipe. Never returns. */
static void prefetch_child(const char *archive, const char *data, pid_t parent, int out) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent) _exit(0);
  /* O_NONBLOCK: a FIFO (swapped in after the launcher's check) must not block us before we say "none" */
  int fd = high_fd(open(archive, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  struct stat st;
  uint64_t at = 0, len = 0;
  char given[PATH_MAX + 1], tmp[PATH_MAX + 1], dir[PATH_MAX + 1], layer_dir[PATH_MAX + 1], fs_dir[PATH_MAX + 1];
  char hello[PATH_MAX + 128], src[64], off_s[24], len_s[24];
  unsigned char r[6];
  /* an absolute path for tvctl, which removes the directory (the data root may be given relative) */
  int ok = snprintf(given, sizeof given, "%s/images/tmp", data) < (int)sizeof given && realpath(given, tmp);
  /* stdin must be at its start, as tvctl then reads it in place (src/images/file-source.ts) */
  ok = ok && (strcmp(archive, "/dev/stdin") != 0 || lseek(0, 0, SEEK_CUR) == 0);
  ok = ok && fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && access(tmp, W_OK) == 0 && !strchr(tmp, '\n');
  ok = ok && find_layer(fd, data, &at, &len) && getrandom(r, sizeof r, 0) == sizeof r;
  ok = ok && snprintf(dir, sizeof dir, "%s/%d-%02x%02x%02x%02x%02x%02x", tmp, (int)parent, r[0], r[1], r[2], r[3], r[4],
                      r[5]) < (int)sizeof dir;
  ok = ok && snprintf(layer_dir, sizeof layer_dir, "%s/layer", dir) < (int)sizeof layer_dir;
  ok = ok && snprintf(fs_dir, sizeof fs_dir, "%s/layer/fs", dir) < (int)sizeof fs_dir;
  ok = ok && snprintf(hello, sizeof hello, "prefetch %d %llu %llu %llu %llu %s\n", (int)getpid(),
                      (unsigned long long)st.st_dev, (unsigned long long)st.st_ino, (unsigned long long)at,
                      (unsigned long long)len, dir) < (int)sizeof hello;
  if (!ok) {
    say_fd(out, "none\n");
    _exit(0);
  }
  /* named before it exists: tvctl, which may kill us at any moment from now on, then knows what to remove */
  say_fd(out, hello);
  if (mkdir(dir, 0700) < 0 || mkdir(layer_dir, 0755) < 0 || mkdir(fs_dir, 0755) < 0) _exit(0);
  /* the extractor's result goes to the pipe; it reads nothing but the archive */
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0 || dup2(out, 1) < 0 || dup2(null, 0) < 0 || dup2(null, 2) < 0) _exit(0);
  snprintf(src, sizeof src, "/proc/self/fd/%d", fd);
  snprintf(off_s, sizeof off_s, "%llu", (unsigned long long)at);
  snprintf(len_s, sizeof len_s, "%llu", (unsigned long long)len);
  char *args[] = {"tvuntar", fs_dir, layer_dir, "--file", src, off_s, len_s, NULL};
  _exit(untar_main(7, args));
}

static int prefetch_main(int argc, char **argv) {
  if (argc < 6 || strcmp(argv[4], "--")) {
    fprintf(stderr, "usage: tvuntar --prefetch ARCHIVE DATAROOT -- COMMAND [ARG...]\n");
    return 2;
  }
  char **cmd = argv + 5;
  int p[2];
  pid_t parent = getpid();
  if (pipe2(p, O_CLOEXEC) == 0 && (p[0] = high_fd(p[0])) >= 0 && (p[1] = high_fd(p[1])) >= 0) {
    pid_t child = fork();
    if (child == 0) {
      close(p[0]);
      prefetch_child(argv[2], argv[3], parent, p[1]);
    }
    close(p[1]);
    /* tvctl learns the child's pid from us, so that it can stop it even before the child has said anything */
    char v[32];
    if (child > 0 && fcntl(p[0], F_SETFD, 0) == 0) {
      snprintf(v, sizeof v, "%d:%d", p[0], (int)child);
      setenv("TVCTL_PREFETCH", v, 1);
    }
  }
  execvp(cmd[0], cmd);
  fprintf(stderr, "tvctl: cannot run %s: %s\n", cmd[0], strerror(errno));
  return 127;
}

int main(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "--prefetch")) return prefetch_main(argc, argv);
  return untar_main(argc, argv);
}
