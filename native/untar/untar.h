/* tvuntar: the layer extractor of tvctl (see README.md). Shared declarations. */
#ifndef UNTAR_H
#define UNTAR_H

#define _GNU_SOURCE
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
/* the one-shot SHA-256 functions: EVP would pull OpenSSL's provider machinery into this static binary */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#define NAME_MAX_ 255
#define PATH_MAX_ 4095
#define META_LIMIT (1 << 20)
/* metadata held in memory: pax and long names before one entry, global pax of the archive, bytes after
 * the end-of-archive blocks (kept for the tar-split). A few KB of zstd can expand to gigabytes. */
#define META_TOTAL_LIMIT (16u << 20)
/* the linear input buffer (no ring) */
#define BUF_CAP (4 << 20)
#define READ_CHUNK (256 << 10)
/* the input ring (see input.c) */
#define RING (8u << 20)

/* ---- result.c: the one result line, errors, and the helpers that end in them ---- */
/* The first caller owns the result line; any later one (another thread) waits for the process to end. */
void claim_result(void);
/* Prints "error CODE MESSAGE" (newlines in MESSAGE become spaces) and exits 0. */
void finish_error(const char *code, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
/* NO_SPACE for ENOSPC/EDQUOT, else BAD_LAYER "unpacking layer failed: OP "REL": strerror(errno)". */
void sys_fail(const char *op, const char *rel) __attribute__((noreturn));
/* BAD_TAR "layer is not a valid tar archive: ...". */
void tar_fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
#define TRUNCATED() tar_fail("unexpected end of archive (truncated file?)")
/* finish_error() calls hook(ctx, code) after claiming the result and prints the code it returns
 * (--pipe-rest: see rest_error_code in input.c). */
void set_error_hook(const char *(*hook)(void *ctx, const char *code), void *ctx);
void *xmalloc(size_t n);
void *xrealloc(void *p, size_t n);
/* write(2) until done; sys_fail("write", rel) on error */
void write_all(int fd, const void *p, size_t n, const char *rel);
/* A printable prefix of at most n bytes of s, in out (n + 1 bytes), for messages. */
const char *clip(const char *s, size_t n, char *out);
/* A line with write(2) alone (async-signal-safe; no stdio). */
void say_fd(int fd, const char *line);
/* From a signal handler: the result line on stdout and _exit(0), unless a result is already being printed
 * (maybe by the very code the signal interrupted): then it returns and lets that finish. */
void say_and_exit(const char *line);

/* ---- input.c (+ lease.c): the layer's bytes, and their digest ---- */
/*
 * The parser sees the bytes buf[start .. end). Three ways to fill it: plain reads into a linear buffer of
 * BUF_CAP; a ring filled by a reader thread (streams); or a mapped file region under a read lease (all of
 * the layer at once, hashed by a second thread).
 */
struct input {
  int fd;
  unsigned char *buf;
  size_t start, end;
  int eof;
  uint64_t consumed; /* bytes of the stream handed out so far */
  /* --file without a lease: the region's length. The ring reader stops when its head reaches it; the plain
   * reader (no ring) counts it down instead. */
  uint64_t left;
  /* --pipe-rest: where the stream goes on once fd (the prefix file) ends, and for how many bytes */
  int next_fd;
  uint64_t next_left;
  /* --pipe-rest: our stdin is tvctl's; after an error in the layer it is read to the layer's end anyway.
   * cut: the input ended before the layer did (then the error's code is CUT: tvctl cannot go on). */
  int rest, draining, cut;
  pthread_t parser; /* the thread that parses (errors from any other one are CUT with --pipe-rest) */
  SHA256_CTX sha;   /* the digest of every byte of the stream */
  /* the ring: positions are stream offsets; the reader owns [head, tail + RING), the parser [tail, head);
   * base is the stream offset of buf[0] */
  int ring_on;
  pthread_t reader;
  pthread_mutex_t ring_mu;
  pthread_cond_t ring_data, ring_space;
  uint64_t ring_head, ring_tail, ring_base, ring_told;
  int ring_eof, ring_err;
  /* --file under a lease */
  const unsigned char *map_base;
  size_t map_len, map_skip;
  int lease_fd;
  pthread_t hasher;
  int hasher_on;
};

void input_init(struct input *in);
/* Starts the reader thread on in->fd; 0 if the ring cannot be set up (then plain reads are used). */
int ring_start(struct input *in);
/* Reads more; returns the number of new bytes, 0 at the end of input. */
size_t fill(struct input *in);
/* The parser is done with the next k buffered bytes. */
void advance(struct input *in, size_t k);
/* At least n bytes buffered (n <= BUF_CAP - READ_CHUNK, or RING with the ring); false at end of input. */
int ensure(struct input *in, size_t n);
static inline size_t avail(const struct input *in) { return in->end - in->start; }
/* --pipe: the "pipe PID FD" / one byte / "go" hand-shake; the stream then comes on that pipe. */
void open_pipe_input(struct input *in);
/* --pipe-rest PREFIX LENGTH|-: the file PREFIX, then LENGTH bytes (or all) of stdin. */
void open_rest_input(struct input *in, const char *prefix, const char *length);
/* --file PATH OFFSET LENGTH (lease.c) */
void open_file_input(struct input *in, const char *path, const char *offset, const char *length);
/* "sha256:HEX" of the whole stream, once every byte of it was hashed (the lease ends here). */
void input_digest(struct input *in, char out[72]);
/* lease.c: gives the lease back; exits with an error if it was broken meanwhile */
void lease_end(struct input *in);

/* ---- split.c: the tar-split (every byte of the stream that is not file content, and file references) ---- */
struct split {
  int on;
  unsigned char *raw;
  size_t rawlen, rawcap;
  struct order_item {
    int is_file;
    size_t a, b; /* raw: offset, length; file: ref index */
  } *order;
  size_t norder, ordercap;
  struct ref {
    uint64_t size;
    char *path; /* "fs/REL", or "split-data/N" once the file was replaced (see preserve in paths.c) */
  } *refs;
  size_t nrefs, refcap;
};
void raw_add(struct split *sp, const unsigned char *p, size_t n);
/* Records a regular file's content by reference; returns the ref index (-1 when no tar-split is made). */
long file_ref_add(struct split *sp, uint64_t size, const char *rel);
/* The file of ref now lives at path (malloc'd; taken over). */
void file_ref_move(struct split *sp, long ref, char *path);
/* Consumes n bytes of metadata/padding from the input, recording them as raw. */
void pass_raw(struct input *in, struct split *sp, uint64_t n);
/* Writes LAYER/tar-split. */
void split_write(const struct split *sp, int layerfd);

/* ---- nodes.c: the table of nodes this layer created ---- */
enum kind { K_DIR = 1, K_FILE, K_SYMLINK, K_SPECIAL };

struct xattr {
  char *name;
  unsigned char *value;
  size_t len;
};
void free_xattrs(struct xattr *x, size_t n);

struct node {
  char *key; /* the cleaned path relative to the layer root */
  size_t klen;
  uint64_t hash;
  int kind;
  long ref; /* regular files: the tar-split ref, or -1 */
  /* directories: metadata from a Directory entry, applied at the end */
  int has_meta, has_mtime, opaque;
  unsigned mode, uid, gid;
  struct timespec mtime;
  struct xattr *xattrs;
  size_t nxattrs;
};

/* open addressing, linear probing, tombstones */
struct nodes {
  struct node **slots;
  size_t nslots, nused, nlive;
};
struct node *node_lookup(const struct nodes *t, const char *k, size_t n);
struct node *node_insert(struct nodes *t, const char *k, size_t n, int kind);
void node_delete(struct nodes *t, const char *k, size_t n);
/* The live node in slot j, or NULL (for walks over every slot, 0 <= j < t->nslots). */
struct node *node_at(const struct nodes *t, size_t j);
void node_drop_slot(struct nodes *t, size_t j);
/* n lies strictly below prefix */
int node_under(const struct node *n, const char *prefix, size_t plen);

/* ---- the extraction's state (main.c makes it; paths.c, apply.c, stream.c work on it) ---- */
/* The most recently used parent directories (entries come grouped by directory, with subdirectories
 * interleaved), so that most entries cost no path lookup. */
#define NCACHE 16
struct dircache {
  struct {
    char key[PATH_MAX_ + 1];
    size_t len;
    int fd;
    unsigned long used;
  } e[NCACHE];
  unsigned long tick;
};

struct untar {
  struct input in;
  struct split split;
  struct nodes nodes;
  struct dircache cache;
  int rootfd, layerfd, splitdatafd; /* DEST, SPLITDIR, SPLITDIR/split-data (made when first needed) */
  int privileged;
  /* chown even 0:0 entries when new nodes would not be 0:0 anyway (setgid root, another group) */
  int always_chown;
  unsigned preserved; /* files moved to split-data so far */
  uint64_t total_size, whiteouts;
  const char *entry_path; /* the entry's path as written in the archive, for messages */
  /* the layer root's own metadata ("./") and opaque marker */
  struct node root_node;
  int root_opaque;
};

/* ---- paths.c ---- */
/* Normalizes p to components relative to the root (absolute paths are taken relative to it; `..` above it
 * is an error). Writes the joined path to out (PATH_MAX_+1 bytes), returns its length. */
size_t clean_path(const char *p, char *out, const char *what);
int openat2_beneath(int dirfd, const char *path, int flags);
void cache_init(struct dircache *c);
void cache_drop_all(struct dircache *c);
/* An fd of rel's parent, every missing parent created; refuses a parent that is a symlink or a file. */
int parent_fd(struct untar *u, const char *rel, size_t len);
const char *base_of(const char *rel, size_t len);
/* An fd of rel's parent for occasional use (caller closes it unless it is u->rootfd). */
int open_parent(struct untar *u, const char *rel, const char **name);
/* Removes what an earlier entry created at rel (dirfd/name: its parent and base name). */
void remove_node(struct untar *u, const char *rel, size_t len, int dirfd, const char *name);

/* ---- tar.c: header fields and pax records ---- */
struct kv {
  char *key;
  unsigned char *val;
  size_t len;
};
struct kvlist {
  struct kv *v;
  size_t n, cap;
};
void kv_clear(struct kvlist *l);
const struct kv *kv_get(const struct kvlist *l, const char *k);
void parse_pax(const unsigned char *d, size_t n, struct kvlist *into);
/* The numeric pax record k of l, else of g, else d. */
uint64_t pax_num(const struct kvlist *l, const struct kvlist *g, const char *k, uint64_t d);
/* A numeric header field: octal text, or base-256 when the high bit is set. ok=0 if unparseable. */
uint64_t hnum(const unsigned char *f, size_t n, int *ok);
/* A NUL-padded header string field into out (n + 1 bytes). */
void hstr(const unsigned char *f, size_t n, char *out);
const char *type_name(char t);
int is_zero(const unsigned char *block);
int checksum_ok(const unsigned char *h);

/* ---- stream.c: the archive, header by header ---- */
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
/* Parses the archive up to its end-of-archive block, applying every entry. */
void parse_stream(struct untar *u);
/* Consumes everything after it (recorded in the tar-split), so that the digest covers the whole stream. */
void read_trailer(struct untar *u);

/* ---- apply.c ---- */
/* Handles one entry. Returns the number of data bytes it consumed (the rest is skipped as raw). */
uint64_t apply(struct untar *u, struct entry *e, uint64_t data_len);
/* Directory owners, modes, xattrs and times, deepest first (the layer root last). */
void finish_dirs(struct untar *u);

/* ---- main.c, prefetch.c ---- */
int untar_main(int argc, char **argv);
int prefetch_main(int argc, char **argv);

#endif
