/* Kernel pointers and nonsense for the calls that do not take a buffer:
 * each refused with its error, nothing crashes. */
#include "ulib.h"
#include "kernel/syscall.h"

static int failures;

static void expect(const char *what, int ret, int want) {
  printf("USER prog=sysattack case=%s ret=%d\n", what, ret);
  if (ret != want) failures++;
}

int main(void) {
  expect("wait-none", wait(12345), -3);                           /* -ESRCH */
  expect("wait-kernel", wait(0), -3);
  expect("write-fd", write(7, "x", 1), -9);                       /* -EBADF: not open */
  char buf[4];
  expect("read-stdout", read(1, buf, sizeof(buf)), -22);          /* -EINVAL: COM1 output */
  expect("read-stderr", read(2, buf, sizeof(buf)), -22);
  expect("unknown-call", syscall3(999, 0, 0, 0), -38);            /* -ENOSYS */
  expect("spawn-kernel-name", spawn((const char *)0xC0100000, 0), -14);
  printf("USER prog=sysattack pid=%d failures=%d\n", getpid(), failures);
  return failures;
}
