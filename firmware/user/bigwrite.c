/* One write() of SIZE bytes (default 4 MiB) straight from fresh heap: the
 * kernel's copy faults the pages in, so the program spends no time of its
 * own before the write, and the bytes are zeros, each escaped to four in the
 * kernel's OUT record (the most output a byte can cost).  `bigwrite SIZE
 * timed` also prints how many instructions the write took (the TSC, counted
 * under -icount; a 486 has no TSC, so only when asked). */
#include "ulib.h"

int main(int argc, char **argv) {
  int size = argc > 1 ? atoi(argv[1]) : 4 << 20;
  int timed = argc > 2;
  char *buf = sbrk(size);
  if (IS_ERR(buf)) return 2;
  uint32_t start = timed ? rdtsc32() : 0;
  int ret = write(1, buf, (size_t)size);
  uint32_t insns = timed ? rdtsc32() - start : 0;
  printf("\nUSER prog=bigwrite pid=%d bytes=%d ret=%d insns=%u\n", getpid(), size, ret, insns);
  return 0;
}
