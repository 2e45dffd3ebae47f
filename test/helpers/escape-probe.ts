import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A static probe run inside containers: the classic chroot escape (chroot into a subdir while keeping the cwd
 * outside, walk up, chroot there) and direct attempts at what seccomp / dropped capabilities must forbid, plus
 * CVE-2019-5736-style writes to every /proc/N/exe. Prints one `key=result` per line ("OK" or strerror).
 */
export const ESCAPE_PROBE_C = String.raw`
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
static const char *r(int ok) { return ok ? "OK" : strerror(errno); }
int main(int argc, char **argv) {
  /* Every process's exe, for writing (CVE-2019-5736), before anything else changes our root. */
  DIR *d = opendir("/proc");
  struct dirent *e;
  int writable = 0, seen = 0;
  while (d && (e = readdir(d))) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    char p[64];
    snprintf(p, sizeof p, "/proc/%s/exe", e->d_name);
    int fd = open(p, O_WRONLY);
    seen++;
    if (fd >= 0) { writable++; printf("writable_exe=%s\n", p); close(fd); }
  }
  printf("exe_seen=%d\nexe_writable=%d\n", seen, writable);
  mkdir("esc-sub", 0755);
  printf("chroot=%s\n", r(chroot("esc-sub") == 0));
  for (int i = 0; i < 64; i++) chdir("..");
  printf("chroot2=%s\n", r(chroot(".") == 0));
  int fd = open(argc > 1 ? argv[1] : "/nonexistent", O_RDONLY);
  printf("escape_open=%s\n", r(fd >= 0));
  if (fd >= 0) { char b[64] = {0}; read(fd, b, 63); printf("escape_content=%s\n", b); }
  printf("mount=%s\n", r(mount("none", "/tmp", "tmpfs", 0, NULL) == 0));
  printf("unshare_user=%s\n", r(unshare(CLONE_NEWUSER) == 0));
  printf("unshare_mnt=%s\n", r(unshare(CLONE_NEWNS) == 0));
  printf("pivot_root=%s\n", r(syscall(SYS_pivot_root, ".", ".") == 0));
  printf("proc1_exe_w=%s\n", r(open("/proc/1/exe", O_WRONLY) >= 0));
  printf("proc1_exe_r=%s\n", r(open("/proc/1/exe", O_RDONLY) >= 0));
  return 0;
}
`;

/** Compiles the probe (gcc -static) into dir/esc; returns the path. */
export function buildEscapeProbe(dir: string): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'esc.c'), ESCAPE_PROBE_C);
  const bin = join(dir, 'esc');
  execFileSync('gcc', ['-static', '-O1', '-o', bin, join(dir, 'esc.c')]);
  return bin;
}

export function parseProbe(out: string): Record<string, string> {
  return Object.fromEntries(
    out
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}
