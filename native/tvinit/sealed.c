/* CVE-2019-5736: a container process must never reach a writable host binary through /proc/PID/exe.
 * We run from a sealed memfd copy of ourselves (write, grow and shrink sealed), as runc does. */
#include "tvinit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#define ALL_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

int running_sealed(void) {
  int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  int seals = fcntl(fd, F_GET_SEALS);
  close(fd);
  return seals >= 0 && (seals & ALL_SEALS) == ALL_SEALS;
}

int sealed_copy(const char *path, const char *name) {
  int src = open(path, O_RDONLY | O_CLOEXEC);
  if (src < 0) return -1;
  struct stat st;
  if (fstat(src, &st) < 0) goto fail_src;
  int mfd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (mfd < 0) goto fail_src;
  off_t left = st.st_size;
  while (left > 0) {
    ssize_t n = sendfile(mfd, src, NULL, (size_t)left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;
      goto fail_mfd;
    }
    left -= n;
  }
  if (fchmod(mfd, 0555) < 0) goto fail_mfd;
  if (fcntl(mfd, F_ADD_SEALS, ALL_SEALS) < 0) goto fail_mfd;
  close(src);
  return mfd;
fail_mfd : {
  int e = errno;
  close(mfd);
  errno = e;
}
fail_src : {
  int e = errno;
  close(src);
  errno = e;
  return -1;
}
}

void ensure_sealed(char **argv) {
  if (running_sealed()) return;
  int fd = sealed_copy("/proc/self/exe", "tvinit");
  if (fd < 0) fail_errno(EXIT_SETUP, "cannot make a sealed copy of tvinit");
  extern char **environ;
  fexecve(fd, argv, environ);
  fail_errno(EXIT_SETUP, "cannot re-exec the sealed tvinit");
}
