/* Computes without ever yielding, printing progress; only timer preemption
 * lets another process run before it ends. */
#include "ulib.h"

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 5;
  volatile uint32_t x = 0;
  for (int r = 0; r < rounds; r++) {
    for (uint32_t i = 0; i < 2000000; i++) x += i;
    printf("USER prog=spinner pid=%d round=%d\n", getpid(), r);
  }
  return 0;
}
