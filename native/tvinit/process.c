/* Process setup shared by init and exec: session/tty, user, capabilities, no_new_privs, cwd, seccomp, execve. */
#include "tvinit.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

void proc_spec_load(const struct conf *c, struct proc_spec *p) {
  memset(p, 0, sizeof *p);
  p->argv = conf_all(c, "arg", &p->argc);
  if (p->argc == 0) fail(EXIT_SETUP, "no command specified");
  p->env = conf_all(c, "env", &p->envc);
  p->cwd = conf_get(c, "cwd");
  if (!p->cwd || !*p->cwd) p->cwd = "/";
  p->user = conf_get(c, "user");
  const char *caps = conf_get(c, "caps");
  if (caps) {
    char *end;
    errno = 0;
    p->caps = strtoull(caps, &end, 16);
    if (errno || *end) fail(EXIT_SETUP, "invalid caps mask %s", caps);
  }
  p->nnp = conf_bool(c, "nnp");
  const char *sc = conf_get(c, "seccomp");
  if (!sc || strcmp(sc, "default") == 0)
    p->seccomp = 1;
  else if (strcmp(sc, "unconfined") == 0)
    p->seccomp = 0;
  else
    fail(EXIT_SETUP, "unknown seccomp profile %s", sc);
  p->tty = conf_bool(c, "tty");
  p->init = conf_bool(c, "init");
}

static int g_last_cap = -1;

int cap_last_cap(void) {
  if (g_last_cap < 0) {
    char buf[32];
    g_last_cap = 40;
    if (read_small_file("/proc/sys/kernel/cap_last_cap", buf, sizeof buf) > 0) {
      int v = atoi(buf);
      if (v > 0 && v < 64) g_last_cap = v;
    }
  }
  return g_last_cap;
}

static const char *env_lookup(struct proc_spec *p, const char *key) {
  size_t kl = strlen(key);
  for (size_t i = 0; i < p->envc; i++)
    if (strncmp(p->env[i], key, kl) == 0 && p->env[i][kl] == '=') return p->env[i] + kl + 1;
  return NULL;
}

static void env_add(struct proc_spec *p, const char *key, const char *val) {
  if (env_lookup(p, key)) return;
  char **ne = realloc(p->env, (p->envc + 2) * sizeof(char *));
  if (!ne) fail(EXIT_SETUP, "out of memory");
  size_t l = strlen(key) + strlen(val) + 2;
  char *s = malloc(l);
  if (!s) fail(EXIT_SETUP, "out of memory");
  snprintf(s, l, "%s=%s", key, val);
  ne[p->envc++] = s;
  ne[p->envc] = NULL;
  p->env = ne;
}

static void mkdir_p(const char *path) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *s = buf + 1; *s; s++)
    if (*s == '/') {
      *s = 0;
      mkdir(buf, 0755);
      *s = '/';
    }
  mkdir(buf, 0755);
}

/* PATH lookup as Go's exec.LookPath (runc): first regular file with an x bit. */
static void resolve_executable(struct proc_spec *p, char *out, size_t cap) {
  const char *name = p->argv[0];
  struct stat st;
  if (strchr(name, '/')) {
    if (stat(name, &st) < 0) {
      int e = errno;
      fail(e == ENOENT || e == ENOTDIR ? EXIT_NOT_FOUND : EXIT_CANNOT_INVOKE, "exec: \"%s\": stat %s: %s", name, name,
           strerror(e));
    }
    if (S_ISDIR(st.st_mode)) fail(EXIT_CANNOT_INVOKE, "exec: \"%s\": is a directory", name);
    snprintf(out, cap, "%s", name);
    return;
  }
  const char *path = env_lookup(p, "PATH");
  if (!path) path = DEFAULT_PATH;
  const char *s = path;
  for (;;) {
    const char *e = strchr(s, ':');
    size_t l = e ? (size_t)(e - s) : strlen(s);
    char cand[4096];
    snprintf(cand, sizeof cand, "%.*s/%s", (int)l, l ? s : ".", name);
    if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111)) {
      snprintf(out, cap, "%s", cand);
      return;
    }
    if (!e) break;
    s = e + 1;
  }
  fail(EXIT_NOT_FOUND, "exec: \"%s\": executable file not found in $PATH", name);
}

static void set_capabilities(uint64_t caps, int keep) {
  struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  if (keep) {
    data[0].effective = data[0].permitted = (uint32_t)caps;
    data[1].effective = data[1].permitted = (uint32_t)(caps >> 32);
  }
  if (syscall(SYS_capset, &hdr, data) < 0) fail_errno(EXIT_SETUP, "capset");
}

void setup_process(struct proc_spec *p, int slave, char *path_out, size_t cap) {
  if (setsid() < 0 && errno != EPERM) fail_errno(EXIT_SETUP, "setsid");
  if (p->tty) {
    if (ioctl(slave, TIOCSCTTY, 0) < 0) fail_errno(EXIT_SETUP, "cannot set the controlling terminal");
    for (int i = 0; i < 3; i++)
      if (dup2(slave, i) < 0) fail_errno(EXIT_SETUP, "dup2 tty");
    if (slave > 2) close(slave);
  }
  struct user_ids ids;
  resolve_user(p->user, &ids);
  env_add(p, "PATH", DEFAULT_PATH);
  env_add(p, "HOME", ids.home);
  if (p->tty) env_add(p, "TERM", "xterm");
  /* Created as root, as Docker does for WORKDIR. */
  if (p->cwd[0] == '/') mkdir_p(p->cwd);

  int last = cap_last_cap();
  for (int c = 0; c <= last; c++)
    if (!(p->caps & (1ull << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
      fail_errno(EXIT_SETUP, "cannot drop capability %d from the bounding set", c);
  /* Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it while we still have it (as runc);
   * the filter allows everything that follows. */
  if (p->seccomp && !p->nnp && install_default_seccomp() < 0) fail_errno(EXIT_SETUP, "cannot load the seccomp filter");
  if (setgroups(ids.ngroups, ids.groups) < 0) fail_errno(EXIT_SETUP, "setgroups");
  if (setresgid(ids.gid, ids.gid, ids.gid) < 0) fail_errno(EXIT_SETUP, "setgid %u", ids.gid);
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) fail_errno(EXIT_SETUP, "PR_SET_KEEPCAPS");
  if (setresuid(ids.uid, ids.uid, ids.uid) < 0) fail_errno(EXIT_SETUP, "setuid %u", ids.uid);
  prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
  set_capabilities(p->caps, ids.uid == 0);
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  if (p->nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail_errno(EXIT_SETUP, "PR_SET_NO_NEW_PRIVS");
  if (chdir(p->cwd) < 0) fail_errno(EXIT_SETUP, "chdir to cwd (\"%s\") set in config failed", p->cwd);
  resolve_executable(p, path_out, cap);
  if (p->seccomp && p->nnp && install_default_seccomp() < 0) fail_errno(EXIT_SETUP, "cannot load the seccomp filter");
}

/* TVCTL_WORK_TIMES=1 (set by tvctl compare) is tvctl's, not the program's: it is removed from the
 * environment, and the start of the work is stamped as the last thing before execve (see init.c). */
static int take_work_times(struct proc_spec *p) {
  int found = 0;
  size_t j = 0;
  for (size_t i = 0; i < p->envc; i++) {
    if (strcmp(p->env[i], "TVCTL_WORK_TIMES=1") == 0) found = 1;
    else p->env[j++] = p->env[i];
  }
  p->envc = j;
  if (p->env) p->env[j] = NULL;
  return found;
}

void exec_process(struct proc_spec *p, const char *path) {
  reset_signals();
  int stamp = take_work_times(p) && g_work_start;
  if (stamp) *g_work_start = monotonic_ns();
  execve(path, p->argv, p->env);
  int e = errno;
  if (e == ENOENT)
    fail(EXIT_NOT_FOUND, "exec: \"%s\": %s", p->argv[0], strerror(e));
  fail(EXIT_CANNOT_INVOKE, "exec: \"%s\": %s", p->argv[0], strerror(e));
}
