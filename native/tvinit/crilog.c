/* CRI log format writer: `<RFC3339Nano> <stream> <F|P> <content>\n`, one record per line. */
#include "crilog.h"

#include <stdio.h>
#include <string.h>

static void emit(struct cri_stream *s, int log_fd, const char *data, size_t len, char tag) {
  char ts[64];
  format_time(ts, sizeof ts, 0);
  char head[96];
  int hl = snprintf(head, sizeof head, "%s %s %c ", ts, s->name, tag);
  /* One write per record, so concurrent appends (restarts, exec) never interleave inside a line. */
  char rec[CRI_BUF + 128];
  memcpy(rec, head, (size_t)hl);
  memcpy(rec + hl, data, len);
  rec[hl + len] = '\n';
  write_all(log_fd, rec, (size_t)hl + len + 1);
}

void cri_feed(struct cri_stream *s, int log_fd, const char *data, size_t len) {
  while (len > 0) {
    size_t take = CRI_BUF - s->len;
    if (take > len) take = len;
    memcpy(s->buf + s->len, data, take);
    s->len += take;
    data += take;
    len -= take;
    size_t start = 0;
    for (size_t i = 0; i < s->len; i++) {
      if (s->buf[i] == '\n') {
        emit(s, log_fd, s->buf + start, i - start, 'F');
        start = i + 1;
      }
    }
    if (start > 0) {
      memmove(s->buf, s->buf + start, s->len - start);
      s->len -= start;
    }
    if (s->len == CRI_BUF) {
      emit(s, log_fd, s->buf, s->len, 'P');
      s->len = 0;
    }
  }
}

void cri_flush(struct cri_stream *s, int log_fd) {
  if (s->len > 0) emit(s, log_fd, s->buf, s->len, 'P');
  s->len = 0;
}
