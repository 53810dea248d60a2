/* cowbuf [waitpid|read]: a system call writing into a copy-on-write page
 * must copy it first, never write the frame the page shares.  The parent
 * fills a heap page with 0x5A bytes, forks, and waits for the child; the
 * child has the kernel write into the shared page:
 *   waitpid  it forks a grandchild that exits with status 77 and waitpid()s
 *            it with the status pointer at the page's start;
 *   read     it read()s up to 8 bytes of COM1 input to the page's start.
 * The kernel's copy_to_user faults (CR0.WP) and copies.  checkpoint(1) in the
 * child after the call; the parent then checks that its page still holds
 * only 0x5A bytes.  Exit 0 when both saw what they should. */
#include "ulib.h"

static volatile uint8_t *buf;

int main(int argc, char **argv) {
  int use_read = argc > 1 && argv[1][0] == 'r';
  buf = sbrk(4096);
  for (int i = 0; i < 4096; i++) buf[i] = 0x5A;
  int child = fork();
  if (child == 0) {
    int got, ok;
    if (use_read) {
      got = read(0, (void *)buf, 8);
      ok = got > 0;
    } else {
      int grandchild = fork();
      if (grandchild == 0) exit(77);
      got = waitpid(grandchild, (int *)buf);
      ok = got == grandchild && *(volatile int *)buf == 77;
    }
    checkpoint(1);
    printf("USER prog=cowbuf pid=%d role=child got=%d first=%d\n", getpid(), got, buf[0]);
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
