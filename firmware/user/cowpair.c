/* cowpair: one fork, both sides write the same heap page, with checkpoints
 * for the harness: checkpoint(1) in the parent right after the fork (both
 * map the page, nobody wrote it since), checkpoint(2) in each once it wrote
 * its own value and read it back.  ORDER (argument) says who exits first:
 * "parent" or "child" (default): the other then writes again and checks. */
#include "ulib.h"

static volatile uint32_t *page;

int main(int argc, char **argv) {
  int child_first = !(argc > 1 && argv[1][0] == 'p');
  page = sbrk(4096);
  page[0] = 0xA0A0A0A0u;
  int pid = getpid();
  int child = fork();
  if (child < 0) return 100;
  if (child > 0) checkpoint(1);
  uint32_t mine = child ? 0xB0B0B0B0u : 0xC0C0C0C0u;
  int bad = page[0] != 0xA0A0A0A0u;
  page[0] = mine;
  checkpoint(2);
  bad += page[0] != mine;
  if (child == 0 && child_first) exit(bad);
  if (child > 0 && !child_first) {
    printf("USER prog=cowpair pid=%d role=parent bad=%d\n", pid, bad);
    exit(bad);
  }
  yield(); /* the other side exits meanwhile */
  yield();
  page[1] = mine; /* the last holder writes on */
  bad += page[0] != mine || page[1] != mine;
  int status = 0;
  if (child > 0) bad += waitpid(child, &status) != child || status != 0;
  printf("USER prog=cowpair pid=%d role=%s bad=%d\n", getpid(), child ? "parent" : "child", bad);
  return bad;
}
