/* `fill [PAGES]` (default 3584, 14 MiB): grows the heap by PAGES pages and
 * writes one word at the start of each, pid * 0x10000 + page, so the harness
 * can find every page's frame and check it holds what this process wrote.
 * Stops at checkpoint(1) with all of them written, then exits 0. */
#include "ulib.h"

int main(int argc, char **argv) {
  int pages = argc > 1 ? atoi(argv[1]) : 3584;
  volatile uint32_t *heap = sbrk(pages * 4096);
  if (IS_ERR(heap)) return 1;
  uint32_t pid = (uint32_t)getpid();
  for (int i = 0; i < pages; i++) heap[i * 1024] = pid * 0x10000u + (uint32_t)i;
  checkpoint(1);
  return 0;
}
