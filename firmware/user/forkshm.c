/* forkshm: shared memory stays shared across fork.  The parent attaches a
 * one-page segment, writes 1 to its first word and forks; checkpoint(1) in
 * the parent right after; the child adds 10 and exits; the parent, after
 * waitpid, finds 11 there.  Exit 0 when it does. */
#include "ulib.h"

int main(void) {
  int id = shm_create(1);
  volatile int *shared = shm_attach(id);
  if (IS_ERR(shared)) return 2;
  shared[0] = 1;
  int child = fork();
  if (child == 0) {
    shared[0] += 10;
    exit(0);
  }
  checkpoint(1);
  int status = -1;
  waitpid(child, &status);
  printf("USER prog=forkshm pid=%d value=%d status=%d\n", getpid(), shared[0], status);
  return shared[0] == 11 && status == 0 ? 0 : 1;
}
