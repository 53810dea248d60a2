/* Yields N times (argument) and reports the instructions per yield, for the
 * context-switch benchmark: with two yielders each yield is one switch to
 * the other process and its own loop back. */
#include "ulib.h"

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1000;
  uint32_t start = rdtsc32();
  for (int i = 0; i < n; i++) yield();
  uint32_t spent = rdtsc32() - start;
  printf("USER prog=yielder pid=%d yields=%d insns=%u\n", getpid(), n, spent);
  return 0;
}
