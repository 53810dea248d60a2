/* forkleak [N]: N rounds of fork, a write in the child (a COW copy), exit,
 * waitpid.  Exit 0 when every round returned the child's status. */
#include "ulib.h"

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 1000;
  volatile uint32_t *page = sbrk(4096);
  page[0] = 1;
  int bad = 0;
  for (int i = 0; i < rounds; i++) {
    int child = fork();
    if (child == 0) {
      page[0] = 2; /* copies: the parent holds the frame */
      exit(i & 0x7F);
    }
    int status = -1;
    if (child < 0 || waitpid(child, &status) != child || status != (i & 0x7F)) bad++;
  }
  bad += page[0] != 1;
  printf("USER prog=forkleak pid=%d rounds=%d bad=%d\n", getpid(), rounds, bad);
  return bad ? 1 : 0;
}
