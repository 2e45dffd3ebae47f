/*
 * tvuntar: unpacks one uncompressed layer tar into DEST (an empty directory of its own) and, unless SPLITDIR
 * is "-", records a tar-split in SPLITDIR/tar-split (DEST must then be SPLITDIR/fs). The same rules as
 * src/images/unpack.ts (the JS fallback), in C so that the per-entry cost is a few system calls; the stream
 * is hashed (the diff ID) on a second thread while this one unpacks. Command line, fds, result line and
 * exit statuses: README.md.
 *
 *   tvuntar DEST SPLITDIR|- [--pipe | --file PATH OFFSET LENGTH | --pipe-rest PREFIX LENGTH|-]
 *   tvuntar --prefetch ARCHIVE DATAROOT -- COMMAND [ARG...]   (prefetch.c)
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
#include "untar.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

static void *split_main(void *arg) {
  struct untar *u = arg;
  split_write(&u->split, u->layerfd);
  return NULL;
}

int untar_main(int argc, char **argv) {
  /* one extraction per process; it lives until the process ends (the threads and the error hook see it) */
  static struct untar u;
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
  struct input *in = &u.in;
  input_init(in);
  u.rootfd = u.layerfd = u.splitdatafd = -1;
  umask(0);
  cache_init(&u.cache);
  u.privileged = geteuid() == 0;
  if (pipe_mode) open_pipe_input(in);
  if (rest_mode) open_rest_input(in, argv[4], argv[5]);
  if (file_mode) {
    open_file_input(in, argv[4], argv[5], argv[6]);
  } else {
    /* a bigger pipe: fewer wake-ups between tvctl and us */
    fcntl(in->fd, F_SETPIPE_SZ, 1 << 20);
    /* (only the ring's reader goes on from the prefix to stdin) */
    if (!ring_start(in) && rest_mode) finish_error("BAD_LAYER", "unpacking layer failed: no memory for the input ring");
  }
  if (!in->buf) in->buf = xmalloc(BUF_CAP);
  u.rootfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (u.rootfd < 0) sys_fail("open", argv[1]);
  struct stat rst;
  if (fstat(u.rootfd, &rst) < 0) sys_fail("stat", argv[1]);
  u.always_chown = getegid() != 0 || (rst.st_mode & S_ISGID);
  u.split.on = strcmp(argv[2], "-") != 0;
  if (u.split.on) {
    u.layerfd = open(argv[2], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (u.layerfd < 0) sys_fail("open", argv[2]);
  }
  parse_stream(&u);
  /* consume everything left, so the digest covers the whole stream; the tar-split keeps it, in memory */
  read_trailer(&u);
  cache_drop_all(&u.cache);
  /* the tar-split is written on another thread while this one sets the directories' metadata */
  pthread_t splitter;
  int split_thread = u.split.on && pthread_create(&splitter, NULL, split_main, &u) == 0;
  if (u.split.on && !split_thread) split_write(&u.split, u.layerfd);
  finish_dirs(&u);
  if (split_thread) pthread_join(splitter, NULL);
  /* last, so that the hash thread's tail overlaps the directory metadata and the tar-split */
  char digest[72];
  input_digest(in, digest);
  claim_result();
  printf("ok %llu %llu %llu %s\n", (unsigned long long)u.total_size, (unsigned long long)u.whiteouts,
         (unsigned long long)in->consumed, digest);
  fflush(stdout);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "--prefetch")) return prefetch_main(argc, argv);
  return untar_main(argc, argv);
}
