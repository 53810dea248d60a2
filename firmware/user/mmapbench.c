/* mmap_munmap_insns: N times (argument, default 256) map 16 anonymous private
 * pages and unmap them untouched; reports the mean and cheapest instructions
 * per pair (-icount makes the TSC count instructions), and for scale what
 * two empty system calls cost. */
#include "ulib.h"

#define PAGES 16

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 256;
  uint32_t best = 0xFFFFFFFFu, total = 0;
  for (int i = 0; i < rounds; i++) {
    uint32_t start = rdtsc32();
    void *p = mmap(0, PAGES * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    int rc = IS_ERR(p) ? -1 : munmap(p, PAGES * 4096);
    uint32_t spent = rdtsc32() - start;
    if (rc != 0) {
      printf("USER prog=mmapbench error=%d\n", IS_ERR(p) ? (int)p : rc);
      return 1;
    }
    if (spent < best) best = spent;
    total += spent;
  }
  /* For scale: two system calls that do nothing (the entry and exit cost). */
  uint32_t start = rdtsc32();
  getpid();
  getpid();
  uint32_t two_calls = rdtsc32() - start;
  printf("USER prog=mmapbench pid=%d rounds=%d pair_insns=%u best_insns=%u two_getpid_insns=%u\n",
         getpid(), rounds, total / (uint32_t)rounds, best, two_calls);
  return 0;
}
