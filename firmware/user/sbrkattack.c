/* Moves the heap break where it must not go: each attempt is refused with
 * an error and the heap stays usable.  Exit status: the failures. */
#include "ulib.h"

static int failures;

static void expect(const char *what, int ret, int want) {
  printf("USER prog=sbrkattack case=%s ret=%d\n", what, ret);
  if (ret != want) failures++;
}

int main(void) {
  void *start = sbrk(0);
  expect("huge", (int)sbrk(0x7FFFF000), -12);          /* -ENOMEM */
  expect("negative", (int)sbrk(-0x7FFFF000), -22);     /* -EINVAL: below the base */
  expect("below-base", (int)sbrk(-4096), -22);
  expect("brk-kernel", brk((void *)0xC0000000), -12);
  expect("brk-null", brk(0), -22);
  int grown = 0; /* up to the per-process page limit, then refused */
  while (!IS_ERR(sbrk(1 << 20))) grown++;
  printf("USER prog=sbrkattack case=limit mib=%d\n", grown);
  if (grown < 4 || grown > 16) failures++;
  expect("back", brk(start), 0);
  volatile char *p = sbrk(4096);
  p[0] = 42; /* the heap still works */
  printf("USER prog=sbrkattack pid=%d failures=%d\n", getpid(), failures);
  return failures;
}
