/* Sets EFLAGS.AC, as ring 3 may, and enters the kernel every way there is
 * with it set: SMAP must stay on inside.  First getpid(); then spawn() of a
 * name on a heap page never touched, so the kernel's copy of the name takes
 * a demand fault (with user access open) inside the system call; then a
 * touch of another fresh page (a fault from ring 3); then, with the argument
 * `spin`, it spins until the harness sets `released`, for timer ticks to
 * interrupt it (with preempt=on).
 * checkpoint(1) and (2) are back in ring 3 after the system calls.  Exits 0
 * when spawn failed as it must (an empty name: -ENOENT). */
#include "ulib.h"

#define EFLAGS_AC 0x40000u
#define ENOENT 2

volatile int released;

int main(int argc, char **argv) {
  int spin = argc > 1 && argv[1][0] == 's'; /* "spin" */
  __asm__ volatile("pushfl; orl %0, (%%esp); popfl" : : "i"(EFLAGS_AC) : "cc");
  int pid = getpid();
  checkpoint(1);
  char *untouched = sbrk(2 * 4096);
  int rc = spawn(untouched, "");
  checkpoint(2);
  untouched[4096] = 1;
  while (spin && !released) continue;
  printf("USER prog=acsyscall pid=%d spawn=%d\n", pid, rc);
  return rc == -ENOENT ? 0 : 1;
}
