/*
 * The layer's bytes: stdin, the --pipe hand-shake, --pipe-rest (a prefix file, then stdin), plain reads or
 * the ring, and the digest of every byte (--file, the lease and the mapped region: lease.c).
 */
#include "untar.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void input_init(struct input *in) {
  memset(in, 0, sizeof *in);
  in->fd = 0;
  in->left = UINT64_MAX;
  in->next_fd = -1;
  in->lease_fd = -1;
  in->parser = pthread_self();
  pthread_mutex_init(&in->ring_mu, NULL);
  pthread_cond_init(&in->ring_data, NULL);
  pthread_cond_init(&in->ring_space, NULL);
  SHA256_Init(&in->sha);
}

/*
 * A stream (stdin, --pipe) is read by a second thread into a ring and hashed there while this thread
 * unpacks. The ring is one memfd mapped twice in a row, so that any RING bytes from any offset of the
 * first mapping are contiguous: the parser sees buf + start .. buf + end as from a linear buffer, and
 * start is brought back under RING whenever the parser asks for more.
 */
static void *read_ring(void *arg) {
  struct input *in = arg;
  uint64_t head = 0;
  for (;;) {
    pthread_mutex_lock(&in->ring_mu);
    while (head - in->ring_tail == RING) pthread_cond_wait(&in->ring_space, &in->ring_mu);
    size_t room = RING - (size_t)(head - in->ring_tail);
    pthread_mutex_unlock(&in->ring_mu);
    if (room > READ_CHUNK) room = READ_CHUNK;
    if (room > in->left - head) room = (size_t)(in->left - head); /* a region of a file: its end */
    unsigned char *p = in->buf + head % RING;
    ssize_t n = 0;
    while (room > 0 && (n = read(in->fd, p, room)) < 0 && (errno == EINTR || errno == EAGAIN)) {
      if (errno == EAGAIN) { /* a non-blocking stdin */
        struct pollfd pf = {.fd = in->fd, .events = POLLIN};
        poll(&pf, 1, -1);
      }
    }
    if (n == 0 && in->next_fd >= 0) {
      /* --pipe-rest: the prefix is read; the rest of the layer comes from stdin, exactly next_left bytes */
      close(in->fd);
      in->fd = in->next_fd;
      in->next_fd = -1;
      in->left = in->next_left == UINT64_MAX ? UINT64_MAX : head + in->next_left; /* "-": to the end */
      continue;
    }
    int err = n < 0 ? errno : 0;
    if (n <= 0 && in->rest && in->left != UINT64_MAX && head < in->left) in->cut = 1; /* ended inside the layer */
    if (n > 0) SHA256_Update(&in->sha, p, (size_t)n);
    pthread_mutex_lock(&in->ring_mu);
    if (n > 0)
      in->ring_head = head += (uint64_t)n;
    else
      in->ring_eof = 1, in->ring_err = err;
    pthread_cond_signal(&in->ring_data);
    pthread_mutex_unlock(&in->ring_mu);
    if (n <= 0) return NULL;
  }
}

/* Hands the bytes before start back to the reader (every RING/8 bytes, so it keeps reading ahead). */
static void ring_release(struct input *in, int now) {
  uint64_t done = in->ring_base + in->start;
  if (!now && done - in->ring_told < RING / 8) return;
  pthread_mutex_lock(&in->ring_mu);
  in->ring_tail = in->ring_told = done;
  pthread_cond_signal(&in->ring_space);
  pthread_mutex_unlock(&in->ring_mu);
}

int ring_start(struct input *in) {
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
  in->buf = m;
  if (pthread_create(&in->reader, NULL, read_ring, in) != 0) {
    in->buf = NULL;
    munmap(m, 2 * (size_t)RING);
    return 0;
  }
  return in->ring_on = 1;
}

static size_t fill_ring(struct input *in) {
  if (in->start >= RING) {
    in->start -= RING;
    in->end -= RING;
    in->ring_base += RING;
  }
  ring_release(in, 1);
  pthread_mutex_lock(&in->ring_mu);
  while (in->ring_head == in->ring_base + in->end && !in->ring_eof) pthread_cond_wait(&in->ring_data, &in->ring_mu);
  size_t n = (size_t)(in->ring_head - (in->ring_base + in->end));
  int err = in->ring_err;
  pthread_mutex_unlock(&in->ring_mu);
  if (n == 0) {
    if (err && !in->draining) {
      errno = err;
      sys_fail("read", "<input>");
    }
    in->eof = 1;
  }
  in->end += n;
  return n;
}

/* Reads and drops the rest of the input (up to --pipe-rest's length, or its end, or a read error). */
static void drain_input(struct input *in) {
  if (!in->ring_on) return;
  in->draining = 1;
  do
    in->start = in->end;
  while (fill_ring(in) > 0);
}

/* Plain reads into a linear buffer, hashed as they come (--file without a lease, or no ring). */
size_t fill(struct input *in) {
  if (in->eof) return 0;
  if (in->ring_on) return fill_ring(in);
  if (in->start > 0 && (in->end == in->start || BUF_CAP - in->end < READ_CHUNK)) {
    memmove(in->buf, in->buf + in->start, in->end - in->start);
    in->end -= in->start;
    in->start = 0;
  }
  size_t room = BUF_CAP - in->end;
  if (room > READ_CHUNK) room = READ_CHUNK;
  if (room > in->left) room = (size_t)in->left;
  if (room == 0) {
    in->eof = 1;
    return 0;
  }
  for (;;) {
    ssize_t n = read(in->fd, in->buf + in->end, room);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) sys_fail("read", "<input>");
    if (n == 0) in->eof = 1;
    SHA256_Update(&in->sha, in->buf + in->end, (size_t)n);
    in->left -= (uint64_t)n;
    in->end += (size_t)n;
    return (size_t)n;
  }
}

void advance(struct input *in, size_t k) {
  in->start += k;
  in->consumed += k;
  if (in->ring_on) ring_release(in, 0);
}

int ensure(struct input *in, size_t n) {
  while (avail(in) < n)
    if (fill(in) == 0) return 0;
  return 1;
}

/*
 * --pipe: the stream comes through a real pipe instead of stdin. Node gives a child's stdin as a unix
 * socket, and writing a layer into one costs tvctl several times more than into a pipe. We print
 * "pipe PID FD"; tvctl opens /proc/PID/fd/FD for writing and sends one byte on stdin; then we drop our
 * copy of the write end (so its close is our end of input) and print "go".
 */
void open_pipe_input(struct input *in) {
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
  in->fd = p[0];
  printf("go\n");
  fflush(stdout);
}

/*
 * --pipe-rest: tvctl goes on reading the archive after the layer (an unusable layer is an error only if an
 * image uses it), so an error from the parser first reads its stdin to just past the layer, as on success.
 * An error from another thread, or after the input ended inside the layer, leaves it somewhere unknown: CUT.
 */
static const char *rest_error_code(void *ctx, const char *code) {
  struct input *in = ctx;
  int from_parser = pthread_equal(pthread_self(), in->parser);
  if (from_parser) drain_input(in);
  return in->cut || !from_parser ? "CUT" : code;
}

/*
 * The layer's first bytes are in the file PREFIX (what tvctl had already read of it), the rest is the next
 * LENGTH bytes of our stdin, tvctl's own (a pipe): read exactly those, so that tvctl goes on after them.
 */
void open_rest_input(struct input *in, const char *prefix, const char *length) {
  char *e = "";
  errno = 0;
  in->next_left = strcmp(length, "-") ? strtoull(length, &e, 10) : UINT64_MAX; /* "-": all of stdin */
  if (errno || *e) finish_error("BAD_LAYER", "unpacking layer failed: bad length %s", length);
  in->fd = open(prefix, O_RDONLY | O_CLOEXEC);
  if (in->fd < 0) sys_fail("open", prefix);
  in->next_fd = 0;
  in->rest = 1;
  set_error_hook(rest_error_code, in);
}

void input_digest(struct input *in, char out[72]) {
  if (in->hasher_on) pthread_join(in->hasher, NULL);
  if (in->ring_on) pthread_join(in->reader, NULL); /* it stopped at the end of input, which we reached */
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256_Final(d, &in->sha);
  if (in->lease_fd >= 0) lease_end(in);
  memcpy(out, "sha256:", 7);
  for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) snprintf(out + 7 + 2 * i, 3, "%02x", d[i]);
}
