/* `chain N`: spawns `chain N-1` (down to 0) and exits with status N without
 * waiting, so N more processes end after it, at most two alive at a time. */
#include "ulib.h"

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 0;
  if (n > 0) {
    char args[12];
    snprintf(args, sizeof(args), "%d", n - 1);
    if (spawn("chain", args) < 0) return -1;
  }
  return n;
}
