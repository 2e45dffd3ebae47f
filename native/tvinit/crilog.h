#ifndef CRILOG_H
#define CRILOG_H
#include "tvinit.h"

#define CRI_BUF 16384

struct cri_stream {
  const char *name; /* "stdout" | "stderr" */
  size_t len;
  char buf[CRI_BUF];
};

void cri_feed(struct cri_stream *s, int log_fd, const char *data, size_t len);
/* End of stream: a pending line without '\n' becomes a partial (P) record. */
void cri_flush(struct cri_stream *s, int log_fd);
#endif
