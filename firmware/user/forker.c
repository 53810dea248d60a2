/* forker DEPTH BREADTH: a fork tree.  Every process checks that the heap page
 * and the data word it inherited hold its parent's pattern, writes its own,
 * yields (so the others write theirs meanwhile), checks its own is still
 * there, forks BREADTH children if it is above DEPTH, waits for them with
 * waitpid(-1), checks its own pattern once more and exits with the number of
 * mismatches it saw plus its children's statuses (0: every copy was its own).
 * One USER record per process. */
#include "ulib.h"

#define WORDS 1024

static volatile uint32_t data_word = 0xD47A0000u; /* in .data: COW after fork */
static volatile uint32_t *heap;                    /* one page, COW after fork */

static uint32_t pattern_of(int pid) { return 0x01010101u * (uint32_t)pid; }

static int check(uint32_t expect) {
  int bad = data_word != expect;
  for (int i = 0; i < WORDS; i++) bad += heap[i] != expect;
  return bad;
}

static void fill(uint32_t value) {
  data_word = value;
  for (int i = 0; i < WORDS; i++) heap[i] = value;
}

static int node(int level, int depth, int breadth, uint32_t inherited) {
  int pid = getpid();
  int bad = check(inherited);
  fill(pattern_of(pid));
  yield();
  bad += check(pattern_of(pid));
  int children = 0, child_status = 0;
  for (int i = 0; level < depth && i < breadth; i++) {
    int child = fork();
    if (child == 0) exit(node(level + 1, depth, breadth, pattern_of(pid)));
    if (child < 0) {
      bad++;
      continue;
    }
    children++;
  }
  for (int status, ended; (ended = waitpid(-1, &status)) > 0;) child_status += status != 0;
  bad += check(pattern_of(pid));
  printf("USER prog=forker pid=%d level=%d children=%d bad=%d failed_children=%d\n", pid,
         level, children, bad, child_status);
  return bad + child_status;
}

int main(int argc, char **argv) {
  int depth = argc > 1 ? atoi(argv[1]) : 2;
  int breadth = argc > 2 ? atoi(argv[2]) : 2;
  heap = sbrk(4096);
  fill(pattern_of(0));
  return node(0, depth, breadth, pattern_of(0));
}
