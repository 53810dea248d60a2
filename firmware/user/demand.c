/* Grows the heap by N pages (argument, default 4) and touches them one at a
 * time, stopping at checkpoint(i) before touching page i, and reports how
 * many instructions a touch took (a demand-page fault and back): the mean,
 * and the cheapest. */
#include "ulib.h"

int main(int argc, char **argv) {
  int pages = argc > 1 ? atoi(argv[1]) : 4;
  volatile char *heap = sbrk(pages * 4096);
  uint32_t best = 0xFFFFFFFFu, total = 0;
  for (int i = 0; i < pages; i++) {
    checkpoint(i);
    uint32_t start = rdtsc32();
    heap[i * 4096] = 1;
    uint32_t spent = rdtsc32() - start;
    if (spent < best) best = spent;
    total += spent;
  }
  checkpoint(pages);
  printf("USER prog=demand pid=%d pages=%d touch_insns=%u best_insns=%u\n", getpid(), pages,
         total / (uint32_t)pages, best);
  return 0;
}
