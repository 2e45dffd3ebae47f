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
#include "untar.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

/* Signal handlers: only say_and_exit (an atomic exchange, write(2), _exit). */
static void on_lease_break(int sig) {
  (void)sig;
  say_and_exit("error BAD_LAYER the archive was opened for writing while it was being loaded; load it again\n");
}

static void on_bus_error(int sig) {
  (void)sig;
  say_and_exit("error BAD_LAYER reading the archive failed (I/O error, or the file shrank while it was loaded)\n");
  /* Another thread is printing the result and ends the process. Returning would run the faulting read again
   * and fault again until then; this thread is a reader of the mapping, never the printer, so it can wait. */
  for (;;) pause();
}

static void *hash_region(void *arg) {
  struct input *in = arg;
  for (size_t off = 0; off < in->map_len;) {
    size_t k = in->map_len - off < (1u << 20) ? in->map_len - off : (1u << 20);
    SHA256_Update(&in->sha, in->map_base + in->map_skip + off, k);
    off += k;
  }
  return NULL;
}

static int map_with_lease(struct input *in, int fd, uint64_t off, uint64_t len) {
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
  in->map_base = m;
  in->map_skip = (size_t)(off - start);
  in->map_len = (size_t)len;
  in->lease_fd = fd;
  return 1;
no:
  signal(SIGIO, SIG_IGN);
  signal(SIGBUS, SIG_DFL);
  fcntl(fd, F_SETLEASE, F_UNLCK);
  return 0;
}

void open_file_input(struct input *in, const char *path, const char *offset, const char *length) {
  char *e1, *e2;
  errno = 0;
  unsigned long long off = strtoull(offset, &e1, 10), len = strtoull(length, &e2, 10);
  if (errno || *e1 || *e2) finish_error("BAD_LAYER", "unpacking layer failed: bad region %s+%s", offset, length);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) sys_fail("open", path);
  if (map_with_lease(in, fd, off, len)) {
    /* the whole region is the buffer: nothing more to read */
    in->buf = (unsigned char *)in->map_base + in->map_skip;
    in->start = 0;
    in->end = in->map_len;
    in->eof = 1;
    if (pthread_create(&in->hasher, NULL, hash_region, in) != 0) hash_region(in);
    else in->hasher_on = 1;
    return;
  }
  if (lseek(fd, (off_t)off, SEEK_SET) < 0) sys_fail("seek", path);
  posix_fadvise(fd, (off_t)off, (off_t)len, POSIX_FADV_SEQUENTIAL);
  in->fd = fd;
  in->left = len;
  ring_start(in);
}

/* Everything is read. If the lease was broken (or revoked after lease-break-time while we were stopped), a
 * writer may have changed the file meanwhile: do not rely on SIGIO having been handled in time. */
void lease_end(struct input *in) {
  if (fcntl(in->lease_fd, F_GETLEASE) != F_RDLCK) {
    on_lease_break(SIGIO);
    _exit(0);
  }
  signal(SIGIO, SIG_IGN);
  fcntl(in->lease_fd, F_SETLEASE, F_UNLCK);
}
