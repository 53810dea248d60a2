/* forkonce: touches one heap page, stops at checkpoint(0) (everything it
 * needs before the fork is mapped), forks once and stops at checkpoint(rc)
 * with fork's result in the parent (the child does not stop there).  Both
 * then write the heap page; exit 0 in both when the fork worked, fork's
 * -errno negated (12 for ENOMEM) when it did not. */
#include "ulib.h"

int main(void) {
  volatile uint32_t *page = sbrk(4096);
  page[0] = 1;
  checkpoint(0);
  int rc = fork();
  if (rc > 0) checkpoint(rc);
  if (rc < 0) {
    checkpoint(rc);
    return -rc;
  }
  page[0] = 2;
  if (rc > 0) waitpid(rc, 0);
  return 0;
}
