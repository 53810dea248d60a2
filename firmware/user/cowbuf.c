/* cowbuf: a system call writing into a copy-on-write page must copy it
 * first, never write the frame the page shares.  The parent fills a heap
 * page with 0x5A bytes and forks; the child forks a grandchild that exits
 * with status 77, then waitpid()s it with the status pointer in the shared
 * page: the kernel's copy_to_user faults (CR0.WP) and copies.  checkpoint(1)
 * in the child after the waitpid; the parent then checks its page still
 * holds only 0x5A bytes.  Exit 0 when both saw what they should. */
#include "ulib.h"

static volatile uint8_t *buf;

int main(void) {
  buf = sbrk(4096);
  for (int i = 0; i < 4096; i++) buf[i] = 0x5A;
  int child = fork();
  if (child == 0) {
    int grandchild = fork();
    if (grandchild == 0) exit(77);
    int got = waitpid(grandchild, (int *)buf);
    checkpoint(1);
    int ok = got == grandchild && *(volatile int *)buf == 77;
    printf("USER prog=cowbuf pid=%d role=child waited=%d status=%d\n", getpid(), got,
           *(volatile int *)buf);
    exit(ok ? 0 : 1);
  }
  int status = -1;
  int got = waitpid(child, &status);
  int intact = 1;
  for (int i = 0; i < 4096; i++) intact &= buf[i] == 0x5A;
  printf("USER prog=cowbuf pid=%d role=parent child_status=%d intact=%d\n", getpid(), status,
         intact);
  return got == child && status == 0 && intact ? 0 : 1;
}
