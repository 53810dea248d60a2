/* A spawn bomb.  `bomb deep`: every bomb spawns another and waits, until the
 * process table is full.  `bomb wide`: spawns hello until spawn fails.  Both
 * must end with spawn refused (-EAGAIN, 11) and everything cleaned up. */
#include "ulib.h"

int main(int argc, char **argv) {
  if (argc > 1 && argv[1][0] == 'w') {
    int n = 0, pid;
    while ((pid = spawn("hello", "")) > 0) n++;
    printf("USER prog=bomb mode=wide pid=%d spawned=%d refused=%d\n", getpid(), n, pid);
    return pid == -11 ? 0 : 1;
  }
  int child = spawn("bomb", "deep");
  if (child < 0) {
    printf("USER prog=bomb mode=deep pid=%d refused=%d\n", getpid(), child);
    return child == -11 ? 0 : 1;
  }
  return wait(child);
}
