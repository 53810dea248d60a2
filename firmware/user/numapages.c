/* numapages MODE MASK PAGES [HOW]: sets its NUMA policy (MODE 0 local,
 * 1 interleave, 2 bind, MASK a node mask; MODE -1 keeps the one it
 * inherited), then grows its heap by PAGES pages and touches them in
 * order, so page i gets the i-th frame the policy hands out, and stops at
 * checkpoint(1) for the harness to walk its page tables.  HOW=1: fork
 * first, the child does the touching (the policy inherited) while the
 * parent waits; HOW=2: spawn "numapages -1 0 PAGES" and wait, so every
 * frame of the child, its image too, comes under the inherited policy;
 * HOW=3: exec "numapages -1 0 PAGES", so the new image and everything
 * after it come under the policy exec kept. */
#include "ulib.h"

int main(int argc, char **argv) {
  int mode = argc > 1 ? atoi(argv[1]) : 0;
  unsigned mask = argc > 2 ? (unsigned)atoi(argv[2]) : 0;
  int pages = argc > 3 ? atoi(argv[3]) : 8;
  int how = argc > 4 ? atoi(argv[4]) : 0;
  if (argc > 1 && argv[1][0] != '-') {
    int rc = set_mempolicy(mode, mask);
    printf("USER prog=numapages pid=%d set_mempolicy=%d\n", getpid(), rc);
  }
  int child = 0, status = 0;
  if (how == 1) child = fork();
  if (how == 2) {
    char args[32];
    snprintf(args, sizeof args, "-1 0 %d", pages);
    child = spawn("numapages", args);
  }
  if (how == 3) {
    char args[32];
    snprintf(args, sizeof args, "-1 0 %d", pages);
    exec("numapages", args);
    return 3; /* exec failed */
  }
  if (child > 0) {
    if (how == 1) waitpid(child, &status);
    else status = wait(child);
    return status;
  }
  volatile char *heap = sbrk(pages * 4096);
  if (IS_ERR(heap)) return 2;
  for (int i = 0; i < pages; i++) heap[i * 4096] = (char)i;
  checkpoint(1);
  return 0;
}
