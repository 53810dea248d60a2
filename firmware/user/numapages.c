/* numapages MODE MASK PAGES [FORK]: sets its NUMA policy (MODE 0 local,
 * 1 interleave, 2 bind; MASK a node mask), then grows its heap by PAGES
 * pages and touches them in order, so page i gets the i-th frame the
 * policy hands out.  With FORK=1 the child does the same after the fork
 * (the policy inherited) while the parent waits.  Stops at checkpoint(1)
 * with every page touched, for the harness to walk its page tables. */
#include "ulib.h"

int main(int argc, char **argv) {
  int mode = argc > 1 ? atoi(argv[1]) : 0;
  unsigned mask = argc > 2 ? (unsigned)atoi(argv[2]) : 0;
  int pages = argc > 3 ? atoi(argv[3]) : 8;
  int forked = argc > 4 && atoi(argv[4]) == 1;
  int rc = set_mempolicy(mode, mask);
  printf("USER prog=numapages pid=%d set_mempolicy=%d\n", getpid(), rc);
  if (forked) {
    int child = fork();
    if (child > 0) {
      int status = 0;
      waitpid(child, &status);
      return status;
    }
  }
  volatile char *heap = sbrk(pages * 4096);
  if (IS_ERR(heap)) return 2;
  for (int i = 0; i < pages; i++) heap[i * 4096] = (char)i;
  checkpoint(1);
  return 0;
}
