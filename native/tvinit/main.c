/* tvinit: shim | init | exec. See README.md. */
#include "tvinit.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "shim") == 0) return mode_shim(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "init") == 0) return mode_init(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "exec") == 0) return mode_exec(argc, argv);
  fprintf(stderr, "usage: tvinit shim|init|exec CONF\n");
  return EXIT_SETUP;
}
