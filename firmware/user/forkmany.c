/* forkmany N: forks N times in a row (the children do not run until the
 * parent waits), keeping each fork's result in `got`, which the harness
 * reads at checkpoint(0); then waits for every child.  Each child exits 0 at
 * once. */
#include "ulib.h"

int got[32];

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 16;
  if (n > 32) n = 32;
  for (int i = 0; i < n; i++) {
    got[i] = fork();
    if (got[i] == 0) exit(0);
  }
  checkpoint(0);
  while (waitpid(-1, 0) > 0) {
  }
  return 0;
}
