/* Sets EFLAGS.AC, as ring 3 may, and makes system calls with it set: SMAP
 * must stay on inside them.  First getpid(); then spawn() of a name on a heap
 * page never touched, so the kernel's copy of the name takes a demand fault
 * (with user access open) and the fault handler runs inside the system call.
 * checkpoint(1) and (2) are back in ring 3 after each.  Exits 0 when spawn
 * failed as it must (an empty name: -ENOENT). */
#include "ulib.h"

#define EFLAGS_AC 0x40000u
#define ENOENT 2

int main(void) {
  __asm__ volatile("pushfl; orl %0, (%%esp); popfl" : : "i"(EFLAGS_AC) : "cc");
  int pid = getpid();
  checkpoint(1);
  char *untouched = sbrk(4096);
  int rc = spawn(untouched, "");
  checkpoint(2);
  printf("USER prog=acsyscall pid=%d spawn=%d\n", pid, rc);
  return rc == -ENOENT ? 0 : 1;
}
