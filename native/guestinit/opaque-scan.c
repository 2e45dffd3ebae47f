/*
 * tvctl-opaque-scan DIR: prints (NUL-terminated, relative to DIR) every directory under DIR carrying the
 * overlayfs opaque marker xattr trusted.overlay.opaque=y. Node has no xattr API; the initramfs builder
 * needs this one fact per layer to flatten layers the way overlayfs would.
 */
#define _GNU_SOURCE
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>

static size_t root_len;

static int visit(const char *path, const struct stat *st, int type, struct FTW *ftw) {
  (void)st;
  (void)ftw;
  if (type != FTW_D) return 0;
  char v[8];
  ssize_t n = lgetxattr(path, "trusted.overlay.opaque", v, sizeof v);
  if (n == 1 && v[0] == 'y') {
    const char *rel = path + root_len;
    while (*rel == '/') rel++;
    fputs(*rel ? rel : ".", stdout);
    fputc('\0', stdout);
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: tvctl-opaque-scan DIR\n");
    return 2;
  }
  root_len = strlen(argv[1]);
  if (nftw(argv[1], visit, 64, FTW_PHYS) != 0) {
    perror(argv[1]);
    return 1;
  }
  return fflush(stdout) == 0 ? 0 : 1;
}
