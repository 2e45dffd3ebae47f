/*
 * tvctl-workload: the small, static work `tvctl compare --workload PRESET` runs in every mode, so the ladder
 * shows on work and not only on boot. It is put at /.tvctl-workload in each mode's root (a read-only bind for
 * containers, an initramfs entry for VMs) and needs nothing from the image.
 *
 *   tvctl-workload PRESET [-n ITERATIONS] [-d DIR]
 *
 * presets (one operation each):
 *   syscall  getppid()                       (a system call that does nothing: the cost of entering the kernel)
 *   fork     fork + exec of itself in the "noop" preset + wait
 *   cpu      one step of an integer recurrence (no memory, no system calls)
 *   memory   the first write to one fresh anonymous page (a page fault and a zeroed page)
 *   file     pwrite 4 KiB + fsync + pread 4 KiB of a file in DIR (default /dev/shm, a tmpfs in every mode)
 *
 * Output, one line on stdout:   workload PRESET iterations=N ns_per_op=X.XX total_ns=T
 * X is total_ns / N, timed with CLOCK_MONOTONIC inside the mode (under emulation that clock is the guest's).
 * Exit 0; 2 on bad usage; 1 when an operation fails (with a message on stderr).
 *
 * Freestanding (x86-64 Linux system calls, no libc): every operation is exactly the system calls named above
 * (no atfork handlers, no cached pids, no vDSO), the binary is a few KB so it costs nothing in an initramfs
 * that an interpreted CPU has to unpack, and it behaves the same on any image.
 */
typedef unsigned long u64;
typedef long i64;

#define SYS_read 0
#define SYS_write 1
#define SYS_open 2
#define SYS_close 3
#define SYS_mmap 9
#define SYS_munmap 11
#define SYS_pread64 17
#define SYS_pwrite64 18
#define SYS_getpid 39
#define SYS_fork 57
#define SYS_execve 59
#define SYS_exit 60
#define SYS_wait4 61
#define SYS_fsync 74
#define SYS_unlink 87
#define SYS_readlink 89
#define SYS_getppid 110
#define SYS_clock_gettime 228

static i64 sys6(i64 n, i64 a, i64 b, i64 c, i64 d, i64 e, i64 f) {
  register i64 r10 __asm__("r10") = d;
  register i64 r8 __asm__("r8") = e;
  register i64 r9 __asm__("r9") = f;
  i64 ret;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}
#define sys0(n) sys6(n, 0, 0, 0, 0, 0, 0)
#define sys1(n, a) sys6(n, (i64)(a), 0, 0, 0, 0, 0)
#define sys2(n, a, b) sys6(n, (i64)(a), (i64)(b), 0, 0, 0, 0)
#define sys3(n, a, b, c) sys6(n, (i64)(a), (i64)(b), (i64)(c), 0, 0, 0)
#define sys4(n, a, b, c, d) sys6(n, (i64)(a), (i64)(b), (i64)(c), (i64)(d), 0, 0)

static __attribute__((noreturn)) void sys_exit(int code) {
  for (;;) sys1(SYS_exit, code);
}

static u64 slen(const char *s) {
  u64 n = 0;
  while (s[n]) n++;
  return n;
}

static int seq(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

static void put(int fd, const char *s) {
  u64 n = slen(s);
  while (n > 0) {
    i64 w = sys3(SYS_write, fd, s, n);
    if (w <= 0) return;
    s += w;
    n -= (u64)w;
  }
}

/* decimal of v into the end of buf; returns the first digit */
static char *udec(u64 v, char *end) {
  *--end = 0;
  do *--end = (char)('0' + v % 10); while (v /= 10);
  return end;
}

static void die(const char *what, i64 err) {
  char b[24];
  put(2, "tvctl-workload: ");
  put(2, what);
  put(2, " failed: errno ");
  put(2, udec((u64)-err, b + sizeof b));
  put(2, "\n");
  sys_exit(1);
}

static void usage(void) {
  put(2, "usage: tvctl-workload syscall|fork|cpu|memory|file [-n ITERATIONS] [-d DIR]\n");
  sys_exit(2);
}

struct timespec_k {
  i64 sec, nsec;
};

static u64 now_ns(void) {
  struct timespec_k ts;
  sys2(SYS_clock_gettime, 1 /* CLOCK_MONOTONIC */, &ts);
  return (u64)ts.sec * 1000000000ul + (u64)ts.nsec;
}

static void run_syscall(u64 n) {
  for (u64 i = 0; i < n; i++) sys0(SYS_getppid);
}

static void run_fork(u64 n, char *self, char **envp) {
  char noop[] = "noop";
  char *args[] = {self, noop, 0};
  for (u64 i = 0; i < n; i++) {
    i64 p = sys0(SYS_fork);
    if (p < 0) die("fork", p);
    if (p == 0) {
      sys3(SYS_execve, self, args, envp);
      sys_exit(127);
    }
    int st = 0;
    i64 w;
    while ((w = sys4(SYS_wait4, p, &st, 0, 0)) == -4 /* EINTR */) {
    }
    if (w < 0) die("wait4", w);
    if (st != 0) {
      put(2, "tvctl-workload: the exec'd copy of itself failed\n");
      sys_exit(1);
    }
  }
}

/* An xorshift step per iteration, seeded from a volatile and stored back to one: the compiler can neither
 * fold the loop nor drop it. */
static volatile u64 seed = 0x9e3779b97f4a7c15ul;
static void run_cpu(u64 n) {
  u64 x = seed;
  for (u64 i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
  }
  seed = x;
}

static void run_memory(u64 n) {
  const u64 page = 4096;
  i64 m = sys6(SYS_mmap, 0, (i64)(n * page), 3 /* RW */, 0x22 /* PRIVATE|ANONYMOUS */, -1, 0);
  if (m < 0 && m > -4096) die("mmap", m);
  volatile char *p = (volatile char *)m;
  for (u64 i = 0; i < n; i++) p[i * page] = 1;
  sys2(SYS_munmap, m, n * page);
}

static char buf[4096], back[4096];

static void run_file(u64 n, const char *dir) {
  char path[4200], pid[24];
  u64 dl = slen(dir);
  if (dl > 4000) usage();
  const char *name = "/tvctl-workload-";
  char *q = path;
  for (u64 i = 0; i < dl; i++) *q++ = dir[i];
  for (const char *s = name; *s;) *q++ = *s++;
  for (const char *s = udec((u64)sys0(SYS_getpid), pid + sizeof pid); *s;) *q++ = *s++;
  *q = 0;
  i64 fd = sys3(SYS_open, path, 0102 | 02000000 /* O_RDWR|O_CREAT|O_CLOEXEC */ | 01000 /* O_TRUNC */, 0600);
  if (fd < 0) die("open in the file preset's directory", fd);
  sys1(SYS_unlink, path);
  for (u64 i = 0; i < sizeof buf; i++) buf[i] = 'w';
  for (u64 i = 0; i < n; i++) {
    i64 r = sys4(SYS_pwrite64, fd, buf, sizeof buf, 0);
    if (r != (i64)sizeof buf) die("pwrite", r < 0 ? r : -5);
    if ((r = sys1(SYS_fsync, fd)) != 0) die("fsync", r);
    r = sys4(SYS_pread64, fd, back, sizeof back, 0);
    if (r != (i64)sizeof back) die("pread", r < 0 ? r : -5);
  }
  sys1(SYS_close, fd);
}

static int parse_u64(const char *s, u64 *out) {
  u64 v = 0;
  if (!*s) return 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return 0;
    u64 nv = v * 10 + (u64)(*s - '0');
    if (nv / 10 != v) return 0;
    v = nv;
  }
  *out = v;
  return v > 0;
}

/* "12.34" of num/den with two decimals, rounded */
static void put_ratio(u64 num, u64 den) {
  char b[24];
  u64 hundredths = (num * 100 + den / 2) / den; /* num * 100 fits: total_ns stays far below 2^57 */
  put(1, udec(hundredths / 100, b + sizeof b));
  put(1, ".");
  u64 f = hundredths % 100;
  char two[3] = {(char)('0' + f / 10), (char)('0' + f % 10), 0};
  put(1, two);
}

int workload_main(int argc, char **argv, char **envp) {
  if (argc < 2) usage();
  const char *preset = argv[1];
  if (seq(preset, "noop")) return 0; /* the trivial mode the fork preset execs */
  u64 n = 0;
  const char *dir = "/dev/shm";
  for (int i = 2; i < argc; i++) {
    if (seq(argv[i], "-n") && i + 1 < argc) {
      if (!parse_u64(argv[++i], &n)) usage();
    } else if (seq(argv[i], "-d") && i + 1 < argc) {
      dir = argv[++i];
    } else {
      usage();
    }
  }
  int which;
  static const char *const names[] = {"syscall", "fork", "cpu", "memory", "file"};
  static const u64 defaults[] = {1000000, 200, 100000000, 20000, 2000};
  for (which = 0; which < 5; which++)
    if (seq(preset, names[which])) break;
  if (which == 5) usage();
  if (n == 0) n = defaults[which];

  /* fork execs this very file: /proc/self/exe resolved, or argv[0] without /proc */
  static char self[4096];
  i64 len = sys3(SYS_readlink, "/proc/self/exe", self, sizeof self - 1);
  char *me = argv[0];
  if (len > 0) {
    self[len] = 0;
    me = self;
  }

  u64 t0 = now_ns();
  switch (which) {
    case 0: run_syscall(n); break;
    case 1: run_fork(n, me, envp); break;
    case 2: run_cpu(n); break;
    case 3: run_memory(n); break;
    default: run_file(n, dir); break;
  }
  u64 dt = now_ns() - t0;
  char b[24];
  put(1, "workload ");
  put(1, preset);
  put(1, " iterations=");
  put(1, udec(n, b + sizeof b));
  put(1, " ns_per_op=");
  put_ratio(dt, n);
  put(1, " total_ns=");
  put(1, udec(dt, b + sizeof b));
  put(1, "\n");
  return 0;
}

/* The kernel's entry: argc, argv, envp on the stack. */
__attribute__((used, noreturn)) void start_c(i64 *sp) {
  int argc = (int)sp[0];
  char **argv = (char **)(sp + 1);
  sys_exit(workload_main(argc, argv, argv + argc + 1));
}
__asm__(".text\n.global _start\n_start:\n  xor %rbp, %rbp\n  mov %rsp, %rdi\n  and $-16, %rsp\n  call start_c\n");
