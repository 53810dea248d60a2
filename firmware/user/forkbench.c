/* forkbench [PAGES]: touches PAGES heap pages (default 1024), forks, and
 * reports the instructions the fork took in the parent (-icount) and those
 * of its first write to a page the child still shares (a copy-on-write
 * fault that copies, until the write resumes).  The child exits at once. */
#include "ulib.h"

int main(int argc, char **argv) {
  int pages = argc > 1 ? atoi(argv[1]) : 1024;
  volatile char *heap = sbrk(pages * 4096);
  for (int i = 0; i < pages; i++) heap[i * 4096] = 1;
  checkpoint(1);
  uint32_t start = rdtsc32();
  int child = fork();
  uint32_t fork_insns = rdtsc32() - start;
  if (child == 0) exit(0);
  /* The child has not run yet (it is READY, the parent keeps the CPU): the
   * page is shared, so this write copies. */
  start = rdtsc32();
  heap[0] = 2;
  uint32_t cow_insns = rdtsc32() - start;
  int status = -1;
  waitpid(child, &status);
  printf("USER prog=forkbench pid=%d pages=%d fork_insns=%u cow_insns=%u child=%d status=%d\n",
         getpid(), pages, fork_insns, cow_insns, child, status);
  return child > 0 && status == 0 ? 0 : 1;
}
