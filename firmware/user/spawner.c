/* Spawns `hello <status>` and waits for it: a process blocking on another. */
#include "ulib.h"

int main(int argc, char **argv) {
  const char *status = argc > 1 ? argv[1] : "7";
  int child = spawn("hello", status);
  int result = wait(child);
  printf("USER prog=spawner pid=%d child=%d status=%d\n", getpid(), child, result);
  return result == atoi(status) ? 0 : 1;
}
