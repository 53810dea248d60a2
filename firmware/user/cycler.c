/* `cycler N name [arg]`: spawns `name arg` and waits for it, N times; prints
 * how many ended with status 0. */
#include "ulib.h"

int main(int argc, char **argv) {
  int cycles = argc > 1 ? atoi(argv[1]) : 10, ok = 0;
  const char *name = argc > 2 ? argv[2] : "worker";
  for (int i = 0; i < cycles; i++) {
    int pid = spawn(name, argc > 3 ? argv[3] : "");
    if (pid > 0 && wait(pid) == 0) ok++;
  }
  printf("USER prog=cycler pid=%d cycles=%d ok=%d\n", getpid(), cycles, ok);
  return ok == cycles ? 0 : 1;
}
