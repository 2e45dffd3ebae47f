/* The container's file system: overlay root, /proc, /sys, /dev, bind mounts, masked and read-only paths,
 * hostname, pivot_root. Every path inside the rootfs is resolved with openat2(RESOLVE_IN_ROOT) and mounted
 * through /proc/self/fd/N, so a symlink in the image can never redirect a mount onto a host path. */
#include "tvinit.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

/* A fresh network namespace (--network none) has lo down; Docker's has it up. One ioctl, no `ip` exec. */
static void loopback_up(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) fail_errno(EXIT_SETUP, "socket");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) fail_errno(EXIT_SETUP, "cannot read the flags of lo");
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) fail_errno(EXIT_SETUP, "cannot bring lo up");
  close(s);
}

#define FDPATH(buf, fd) snprintf(buf, sizeof buf, "/proc/self/fd/%d", fd)

static int openat2_in_root(int rootfd, const char *path, int flags) {
  struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC),
                         .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
  return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
}

/* O_PATH fd of PATH inside root; creates missing parents (dirs) and the last component (kind 'd' or 'f').
 * kind 0: no creation, -1 with errno on failure. A dangling symlink on the way is followed inside the root
 * (its target created there), as Docker does for volume targets. */
static int open_in_root_depth(int rootfd, const char *path, int kind, int depth) {
  int fd = openat2_in_root(rootfd, path, O_PATH);
  if (fd >= 0 || errno != ENOENT || !kind) return fd;
  if (depth > 40) {
    errno = ELOOP;
    return -1;
  }
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  size_t len = strlen(buf);
  while (len > 1 && buf[len - 1] == '/') buf[--len] = 0;
  char *slash = strrchr(buf, '/');
  const char *name = slash ? slash + 1 : buf;
  int parent;
  if (slash && slash != buf) {
    *slash = 0;
    parent = open_in_root_depth(rootfd, buf, 'd', depth + 1);
  } else {
    parent = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
  }
  if (parent < 0) return -1;
  /* parent is an O_PATH fd already inside root; a single name below it cannot escape. */
  int r;
  if (kind == 'd') {
    r = mkdirat(parent, name, 0755);
  } else {
    r = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (r >= 0) close(r), r = 0;
  }
  if (r < 0 && errno == EEXIST) {
    struct stat st;
    char target[4096];
    ssize_t tl;
    if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode) &&
        (tl = readlinkat(parent, name, target, sizeof target - 1)) > 0) {
      target[tl] = 0;
      char next[8192];
      if (target[0] == '/')
        snprintf(next, sizeof next, "%s", target);
      else
        snprintf(next, sizeof next, "%s/%s", slash && slash != buf ? buf : "", target);
      close(parent);
      int t = open_in_root_depth(rootfd, next, kind, depth + 1);
      if (t < 0) return -1;
      close(t);
      return openat2_in_root(rootfd, path, O_PATH);
    }
  }
  close(parent);
  if (r < 0 && errno != EEXIST) return -1;
  return openat2_in_root(rootfd, path, O_PATH);
}

static int open_in_root(int rootfd, const char *path, int kind) { return open_in_root_depth(rootfd, path, kind, 0); }

static int must_open_in_root(int rootfd, const char *path, int kind) {
  int fd = open_in_root(rootfd, path, kind);
  if (fd < 0) fail_errno(EXIT_SETUP, "cannot resolve %s in the container root", path);
  return fd;
}

static void mount_fd(const char *src, int fd, const char *type, unsigned long flags, const char *data,
                     const char *what) {
  char target[64];
  FDPATH(target, fd);
  if (mount(src, target, type, flags, data) < 0) fail_errno(EXIT_SETUP, "cannot mount %s", what);
}

/* Flags of the mount at fd, so a remount keeps nosuid/nodev/noexec. */
static unsigned long mount_flags(int fd) {
  struct statvfs sv;
  unsigned long f = 0;
  if (fstatvfs(fd, &sv) < 0) return 0;
  if (sv.f_flag & ST_NOSUID) f |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV) f |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
  if (sv.f_flag & ST_NOATIME) f |= MS_NOATIME;
  if (sv.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
  if (sv.f_flag & ST_RELATIME) f |= MS_RELATIME;
  return f;
}

static void remount_ro(int rootfd, const char *path, unsigned long extra) {
  /* Reopen: an fd taken before the bind mount points below it. */
  int fd = must_open_in_root(rootfd, path, 0);
  mount_fd(NULL, fd, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | mount_flags(fd) | extra, NULL, path);
  close(fd);
}

static void mount_overlay(const struct conf *c, const char *rootfs) {
  size_t nlower;
  char **lower = conf_all(c, "lower", &nlower);
  const char *upper = conf_get(c, "upper"), *work = conf_get(c, "work");
  if (nlower == 0) fail(EXIT_SETUP, "no image layers (lower=) given");
  if (!upper && nlower == 1) {
    /* overlayfs needs two lowers without an upper: a read-only bind is the same thing. */
    if (mount(lower[0], rootfs, NULL, MS_BIND | MS_REC, NULL) < 0) fail_errno(EXIT_SETUP, "cannot bind %s", lower[0]);
    if (mount(NULL, rootfs, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
      fail_errno(EXIT_SETUP, "cannot make the root file system read-only");
    free(lower);
    return;
  }
  size_t cap = 64;
  for (size_t i = 0; i < nlower; i++) cap += strlen(lower[i]) + 1;
  if (upper) cap += strlen(upper) + 16;
  if (work) cap += strlen(work) + 16;
  char *opts = malloc(cap);
  if (!opts) fail(EXIT_SETUP, "out of memory");
  strcpy(opts, "lowerdir=");
  for (size_t i = 0; i < nlower; i++) {
    if (i) strcat(opts, ":");
    strcat(opts, lower[i]);
  }
  if (upper) {
    if (!work) fail(EXIT_SETUP, "upper= needs work=");
    strcat(opts, ",upperdir=");
    strcat(opts, upper);
    strcat(opts, ",workdir=");
    strcat(opts, work);
  }
  strcat(opts, ",index=off");
  if (strlen(opts) >= 4096 - sizeof ",volatile")
    fail(EXIT_SETUP, "too many image layers for one overlay mount (options exceed a page)");
  /* volatile (a --rm container's writable layer, deleted at exit): overlayfs skips every sync of the upper
   * file system, above all the syncfs of the whole host file system when the overlay is unmounted as the
   * container's mount namespace dies, which waits for unrelated dirty data (measured: 100-400 ms on a busy
   * host, on the path of every exit). Kernels before 5.10 do not know the option: mount without it. */
  int is_volatile = upper && conf_get(c, "volatile") != NULL;
  size_t base = strlen(opts);
  if (is_volatile) strcat(opts, ",volatile");
  int r = mount("overlay", rootfs, "overlay", upper ? 0 : MS_RDONLY, opts);
  if (r < 0 && is_volatile && errno == EINVAL) {
    opts[base] = 0;
    r = mount("overlay", rootfs, "overlay", 0, opts);
  }
  if (r < 0) fail_errno(EXIT_SETUP, "cannot mount the overlay root file system on %s", rootfs);
  free(opts);
  free(lower);
}

static const struct {
  const char *name;
  unsigned maj, min;
} devices[] = {{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};

static int setup_dev(int rootfd, int tty, int *slave_out) {
  int fd = must_open_in_root(rootfd, "/dev", 'd');
  mount_fd("tmpfs", fd, "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k", "/dev");
  close(fd);
  int dev = openat2_in_root(rootfd, "/dev", O_RDONLY | O_DIRECTORY);
  if (dev < 0) fail_errno(EXIT_SETUP, "cannot open the container /dev");
  for (size_t i = 0; i < sizeof devices / sizeof devices[0]; i++) {
    if (mknodat(dev, devices[i].name, S_IFCHR | 0666, makedev(devices[i].maj, devices[i].min)) < 0)
      fail_errno(EXIT_SETUP, "cannot create /dev/%s", devices[i].name);
    if (fchmodat(dev, devices[i].name, 0666, 0) < 0) fail_errno(EXIT_SETUP, "chmod /dev/%s", devices[i].name);
  }
  static const char *dirs[] = {"pts", "shm", "mqueue"};
  for (size_t i = 0; i < 3; i++)
    if (mkdirat(dev, dirs[i], 0755) < 0) fail_errno(EXIT_SETUP, "mkdir /dev/%s", dirs[i]);
  char path[128];
  snprintf(path, sizeof path, "/proc/self/fd/%d/pts", dev);
  if (mount("devpts", path, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5") < 0)
    fail_errno(EXIT_SETUP, "cannot mount /dev/pts");
  snprintf(path, sizeof path, "/proc/self/fd/%d/shm", dev);
  if (mount("shm", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k") < 0)
    fail_errno(EXIT_SETUP, "cannot mount /dev/shm");
  snprintf(path, sizeof path, "/proc/self/fd/%d/mqueue", dev);
  if (mount("mqueue", path, "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
    fail_errno(EXIT_SETUP, "cannot mount /dev/mqueue");
  static const char *links[][2] = {{"pts/ptmx", "ptmx"},
                                   {"/proc/self/fd", "fd"},
                                   {"/proc/self/fd/0", "stdin"},
                                   {"/proc/self/fd/1", "stdout"},
                                   {"/proc/self/fd/2", "stderr"}};
  for (size_t i = 0; i < 5; i++)
    if (symlinkat(links[i][0], dev, links[i][1]) < 0) fail_errno(EXIT_SETUP, "cannot create /dev/%s", links[i][1]);
  int master = -1;
  if (tty) {
    int num;
    snprintf(path, sizeof path, "/proc/self/fd/%d/pts/ptmx", dev);
    master = open_pty(path, slave_out, &num);
    if (master < 0) fail_errno(EXIT_SETUP, "cannot allocate a pseudo-terminal");
    int cfd = openat(dev, "console", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (cfd < 0) fail_errno(EXIT_SETUP, "cannot create /dev/console");
    close(cfd);
    char src[128];
    snprintf(src, sizeof src, "/proc/self/fd/%d/pts/%d", dev, num);
    snprintf(path, sizeof path, "/proc/self/fd/%d/console", dev);
    if (mount(src, path, NULL, MS_BIND, NULL) < 0) fail_errno(EXIT_SETUP, "cannot bind the console");
  }
  close(dev);
  return master;
}

static void bind_mounts(const struct conf *c, int rootfd) {
  size_t n;
  char **m = conf_all(c, "mount", &n);
  for (size_t i = 0; i < n; i++) {
    char spec[8192];
    snprintf(spec, sizeof spec, "%s", m[i]);
    char *src = spec, *dst = strchr(src, '\t'), *mode = NULL;
    if (dst) *dst++ = 0;
    if (dst && (mode = strchr(dst, '\t'))) *mode++ = 0;
    if (!dst || !mode || src[0] != '/' || dst[0] != '/') fail(EXIT_SETUP, "invalid mount spec \"%s\"", m[i]);
    struct stat st;
    if (stat(src, &st) < 0) fail_errno(EXIT_SETUP, "invalid mount source %s", src);
    int fd = must_open_in_root(rootfd, dst, S_ISDIR(st.st_mode) ? 'd' : 'f');
    mount_fd(src, fd, NULL, MS_BIND | MS_REC, NULL, dst);
    close(fd);
    if (strcmp(mode, "ro") == 0) remount_ro(rootfd, dst, 0);
  }
  free(m);
}

static void mask_paths(const struct conf *c, int rootfd) {
  size_t n;
  char **m = conf_all(c, "masked", &n);
  for (size_t i = 0; i < n; i++) {
    int fd = open_in_root(rootfd, m[i], 0);
    if (fd < 0) {
      if (errno == ENOENT || errno == ENOTDIR) continue;
      fail_errno(EXIT_SETUP, "cannot resolve masked path %s", m[i]);
    }
    struct stat st;
    if (fstat(fd, &st) < 0) fail_errno(EXIT_SETUP, "stat %s", m[i]);
    if (S_ISDIR(st.st_mode))
      mount_fd("tmpfs", fd, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755", m[i]);
    else
      mount_fd("/dev/null", fd, NULL, MS_BIND, NULL, m[i]);
    close(fd);
  }
  free(m);
  m = conf_all(c, "readonly_path", &n);
  for (size_t i = 0; i < n; i++) {
    int fd = open_in_root(rootfd, m[i], 0);
    if (fd < 0) {
      if (errno == ENOENT || errno == ENOTDIR) continue;
      fail_errno(EXIT_SETUP, "cannot resolve read-only path %s", m[i]);
    }
    char self[64];
    FDPATH(self, fd);
    mount_fd(self, fd, NULL, MS_BIND | MS_REC, NULL, m[i]);
    close(fd);
    remount_ro(rootfd, m[i], MS_NOSUID | MS_NODEV | MS_NOEXEC);
  }
  free(m);
}

void setup_rootfs(const struct conf *c, int tty, int *slave_out) {
  const char *rootfs = conf_get(c, "rootfs");
  if (!rootfs || rootfs[0] != '/') fail(EXIT_SETUP, "rootfs= must be an absolute path");
  *slave_out = -1;
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) fail_errno(EXIT_SETUP, "cannot make / private");
  mount_overlay(c, rootfs);
  int rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) fail_errno(EXIT_SETUP, "cannot open %s", rootfs);

  int fd = must_open_in_root(rootfd, "/proc", 'd');
  mount_fd("proc", fd, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, "/proc");
  close(fd);
  fd = must_open_in_root(rootfd, "/sys", 'd');
  mount_fd("sysfs", fd, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, "/sys");
  close(fd);
  const char *cg = conf_get(c, "cgroupfs");
  if (cg && strcmp(cg, "v2") == 0) {
    fd = must_open_in_root(rootfd, "/sys/fs/cgroup", 0);
    mount_fd("cgroup2", fd, "cgroup2", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, "/sys/fs/cgroup");
    close(fd);
  }
  int master = setup_dev(rootfd, tty, slave_out);
  if (master >= 0) {
    int console = (int)conf_int(c, "console_fd", TVINIT_CONSOLE_FD);
    send_console(console, master);
  }
  bind_mounts(c, rootfd);
  mask_paths(c, rootfd);

  const char *hn = conf_get(c, "hostname");
  if (hn && sethostname(hn, strlen(hn)) < 0) fail_errno(EXIT_SETUP, "cannot set hostname %s", hn);
  if (conf_bool(c, "lo_up")) loopback_up();

  /* runc's pivot_root(".", "."): the old root ends up stacked under the new one; detach it. */
  if (fchdir(rootfd) < 0) fail_errno(EXIT_SETUP, "chdir %s", rootfs);
  if (syscall(SYS_pivot_root, ".", ".") < 0) fail_errno(EXIT_SETUP, "pivot_root %s", rootfs);
  if (umount2(".", MNT_DETACH) < 0) fail_errno(EXIT_SETUP, "cannot detach the old root");
  if (chdir("/") < 0) fail_errno(EXIT_SETUP, "chdir /");
  close(rootfd);
  if (conf_bool(c, "readonly") && mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
    fail_errno(EXIT_SETUP, "cannot make the root file system read-only");
}
