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
#include "untar.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

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

int prefetch_main(int argc, char **argv) {
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
