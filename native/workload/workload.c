/*
 * tvctl-workload: the small, static work `tvctl compare --workload PRESET` runs in every mode, so the ladder
 * shows on work and not only on boot. It is put at /.tvctl-workload in each mode's root (a read-only bind for
 * containers, an initramfs entry for VMs) and needs nothing from the image.
 *
 *   tvctl-workload PRESET [-n ITERATIONS] [-d DIR]
 *
 * presets (one operation each):
 *   syscall  getppid()                       (a system call that does nothing: the cost of entering the kernel)
 *   fork     fork + exec of itself in the "noop" preset + waitpid
 *   cpu      one step of an integer recurrence (no memory, no system calls)
 *   memory   the first write to one fresh anonymous page (a page fault and a zeroed page)
 *   file     pwrite 4 KiB + fsync + pread 4 KiB of a file in DIR (default /dev/shm, a tmpfs in every mode)
 *
 * Output, one line on stdout:   workload PRESET iterations=N ns_per_op=X total_ns=T
 * X is total_ns / N, timed with CLOCK_MONOTONIC inside the mode (under emulation that clock is the guest's).
 * Exit 0, or 2 on bad usage, 1 when an operation fails (with a message on stderr).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "tvctl-workload: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void usage(void) {
  fprintf(stderr, "usage: tvctl-workload syscall|fork|cpu|memory|file [-n ITERATIONS] [-d DIR]\n");
  exit(2);
}

/* The raw system call: glibc's getppid() is not cached, but going through syscall() leaves no doubt. */
static void run_syscall(uint64_t n) {
  for (uint64_t i = 0; i < n; i++) syscall(SYS_getppid);
}

static void run_fork(uint64_t n) {
  char *args[] = {"/proc/self/exe", "noop", NULL};
  char self[4096];
  ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  /* exec by the resolved path when /proc is there; argv[0] otherwise (both are this binary) */
  if (len > 0) {
    self[len] = 0;
    args[0] = self;
  }
  for (uint64_t i = 0; i < n; i++) {
    pid_t p = fork();
    if (p < 0) die("fork");
    if (p == 0) {
      execv(args[0], args);
      _exit(127);
    }
    int st;
    while (waitpid(p, &st, 0) < 0)
      if (errno != EINTR) die("waitpid");
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      fprintf(stderr, "tvctl-workload: the exec'd copy failed (status %d)\n", st);
      exit(1);
    }
  }
}

/* An xorshift step per iteration, seeded from a volatile and printed at the end: the compiler can neither
 * fold the loop nor drop it. */
static volatile uint64_t seed = 0x9e3779b97f4a7c15ull;
static void run_cpu(uint64_t n) {
  uint64_t x = seed;
  for (uint64_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
  }
  seed = x;
}

static void run_memory(uint64_t n) {
  long page = sysconf(_SC_PAGESIZE);
  if (page <= 0) page = 4096;
  size_t len = (size_t)n * (size_t)page;
  volatile char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) die("mmap");
  for (uint64_t i = 0; i < n; i++) m[i * (uint64_t)page] = 1;
  munmap((void *)m, len);
}

static void run_file(uint64_t n, const char *dir) {
  char path[4096];
  snprintf(path, sizeof path, "%s/tvctl-workload-%ld", dir, (long)getpid());
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) die(path);
  unlink(path);
  static char buf[4096], back[4096];
  memset(buf, 'w', sizeof buf);
  for (uint64_t i = 0; i < n; i++) {
    if (pwrite(fd, buf, sizeof buf, 0) != (ssize_t)sizeof buf) die("pwrite");
    if (fsync(fd) != 0) die("fsync");
    if (pread(fd, back, sizeof back, 0) != (ssize_t)sizeof back) die("pread");
  }
  close(fd);
}

int main(int argc, char **argv) {
  if (argc < 2) usage();
  const char *preset = argv[1];
  if (strcmp(preset, "noop") == 0) return 0; /* the trivial mode the fork preset execs */
  uint64_t n = 0;
  const char *dir = "/dev/shm";
  for (int i = 2; i < argc; i++) {
    if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
      char *end;
      errno = 0;
      unsigned long long v = strtoull(argv[++i], &end, 10);
      if (errno || *end || v == 0) usage();
      n = v;
    } else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc) {
      dir = argv[++i];
    } else {
      usage();
    }
  }
  void (*op)(uint64_t) = NULL;
  uint64_t dflt = 0;
  if (strcmp(preset, "syscall") == 0) op = run_syscall, dflt = 1000000;
  else if (strcmp(preset, "fork") == 0) op = run_fork, dflt = 200;
  else if (strcmp(preset, "cpu") == 0) op = run_cpu, dflt = 100000000;
  else if (strcmp(preset, "memory") == 0) op = run_memory, dflt = 20000;
  else if (strcmp(preset, "file") != 0) usage();
  else dflt = 2000;
  if (n == 0) n = dflt;

  uint64_t t0 = now_ns();
  if (op) op(n);
  else run_file(n, dir);
  uint64_t dt = now_ns() - t0;
  printf("workload %s iterations=%llu ns_per_op=%.2f total_ns=%llu\n", preset, (unsigned long long)n,
         (double)dt / (double)n, (unsigned long long)dt);
  if (op == run_cpu && seed == 0) fprintf(stderr, "tvctl-workload: the recurrence reached 0\n"); /* keeps x live */
  return 0;
}
