/* Pseudo-terminals: allocation inside the container's devpts, raw mode and window size on the shim side. */
#include "tvinit.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

int open_pty(const char *ptmx_path, int *slave, int *num) {
  int master = open(ptmx_path, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) return -1;
  int unlock = 0;
  if (ioctl(master, TIOCSPTLCK, &unlock) < 0 || ioctl(master, TIOCGPTN, num) < 0) goto fail;
  /* TIOCGPTPEER opens the slave through the master: no path lookup in a directory the container controls. */
  *slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (*slave < 0) goto fail;
  return master;
fail : {
  int e = errno;
  close(master);
  errno = e;
  return -1;
}
}

int set_raw(int fd, void *saved) {
  struct termios t;
  if (tcgetattr(fd, &t) < 0) return -1;
  *(struct termios *)saved = t;
  cfmakeraw(&t);
  return tcsetattr(fd, TCSADRAIN, &t);
}

void copy_winsize(int from, int to) {
  struct winsize ws;
  if (ioctl(from, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0) ioctl(to, TIOCSWINSZ, &ws);
}
