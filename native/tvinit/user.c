/* Docker -u: name|uid[:group|gid] against the container's /etc/passwd and /etc/group (after pivot_root). */
#include "tvinit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_id(const char *s, unsigned long *out) {
  if (!*s) return 0;
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno || *end || v > 0xfffffffeul) return 0;
  *out = v;
  return 1;
}

/* Splits a colon-separated line into at most max fields in place. */
static int split(char *line, char **f, int max) {
  int n = 0;
  f[n++] = line;
  for (char *p = line; *p && n < max; p++)
    if (*p == ':') {
      *p = 0;
      f[n++] = p + 1;
    }
  char *nl = strchr(f[n - 1], '\n');
  if (nl) *nl = 0;
  return n;
}

struct pwent {
  int found;
  char name[256];
  unsigned long uid, gid;
  char home[256];
};

static void find_passwd(const char *name, const unsigned long *uid, struct pwent *pw) {
  pw->found = 0;
  FILE *fp = fopen("/etc/passwd", "re");
  if (!fp) return;
  char line[1024];
  while (fgets(line, sizeof line, fp)) {
    char *f[7];
    if (line[0] == '#' || split(line, f, 7) < 7) continue;
    unsigned long u, g;
    if (!parse_id(f[2], &u) || !parse_id(f[3], &g)) continue;
    if ((name && strcmp(f[0], name) == 0) || (uid && u == *uid)) {
      pw->found = 1;
      snprintf(pw->name, sizeof pw->name, "%s", f[0]);
      pw->uid = u;
      pw->gid = g;
      snprintf(pw->home, sizeof pw->home, "%s", f[5]);
      break;
    }
  }
  fclose(fp);
}

/* Looks up a group by name (returns its gid) and/or collects the groups listing `member`. */
static int scan_groups(const char *group_name, unsigned long *gid_out, const char *member, struct user_ids *ids) {
  int found = 0;
  FILE *fp = fopen("/etc/group", "re");
  if (!fp) return 0;
  char line[4096];
  while (fgets(line, sizeof line, fp)) {
    char *f[4];
    if (line[0] == '#' || split(line, f, 4) < 4) continue;
    unsigned long g;
    if (!parse_id(f[2], &g)) continue;
    if (group_name && !found && strcmp(f[0], group_name) == 0) {
      *gid_out = g;
      found = 1;
    }
    if (member && ids) {
      for (char *m = strtok(f[3], ","); m; m = strtok(NULL, ","))
        if (strcmp(m, member) == 0) {
          int dup = 0;
          for (size_t i = 0; i < ids->ngroups; i++) dup |= ids->groups[i] == (gid_t)g;
          if (!dup && ids->ngroups < sizeof ids->groups / sizeof ids->groups[0]) ids->groups[ids->ngroups++] = (gid_t)g;
        }
    }
  }
  fclose(fp);
  return found;
}

void resolve_user(const char *spec, struct user_ids *out) {
  char buf[512];
  snprintf(buf, sizeof buf, "%s", spec && *spec ? spec : "0");
  char *grp = strchr(buf, ':');
  if (grp) *grp++ = 0;
  struct pwent pw;
  unsigned long uid;
  if (parse_id(buf, &uid)) {
    find_passwd(NULL, &uid, &pw);
  } else {
    find_passwd(buf, NULL, &pw);
    if (!pw.found) fail(EXIT_SETUP, "unable to find user %s: no matching entries in passwd file", buf);
    uid = pw.uid;
  }
  unsigned long gid = pw.found ? pw.gid : 0;
  out->ngroups = 0;
  if (grp && *grp) {
    if (!parse_id(grp, &gid) && !scan_groups(grp, &gid, NULL, NULL))
      fail(EXIT_SETUP, "unable to find group %s: no matching entries in group file", grp);
  }
  out->uid = (uid_t)uid;
  out->gid = (gid_t)gid;
  out->groups[out->ngroups++] = (gid_t)gid;
  if (pw.found) scan_groups(NULL, NULL, pw.name, out);
  snprintf(out->home, sizeof out->home, "%s", pw.found && pw.home[0] ? pw.home : "/");
}
