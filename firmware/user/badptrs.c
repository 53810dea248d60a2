/* Passes bad pointers to every system call that takes one: each must come
 * back with -EFAULT (14), never a kernel fault or a kill.  Prints one record
 * per case, then the number of failures (its exit status). */
#include "ulib.h"
#include "kernel/syscall.h"

static int failures;

static void expect(const char *call, const char *what, int ret) {
  printf("USER prog=badptrs call=%s case=%s ret=%d\n", call, what, ret);
  if (ret != -14) failures++;
}

int main(int argc, char **argv) {
  (void)argc;
  /* The top of this process's stack: the page argv[0] lives in ends there,
   * and nothing user-accessible lies above it.  A string running up to it
   * without a NUL must be refused, not read on into whatever follows. */
  uint32_t top = ((uint32_t)argv[0] + 4095) & ~4095u;
  memset((char *)top - 8, 'A', 8);
  const struct {
    const char *what;
    uint32_t addr, len;
  } cases[] = {
      {"null", 0, 16},
      {"low", 1, 16},
      {"kernel", 0xC0100000u, 16},
      {"kernel-top", 0xFFFFFFF0u, 16},
      {"straddle-kernel", 0xBFFFFFF8u, 64},
      {"straddle-top", top - 8, 64},
      {"unmapped", 0x50000000u, 16},
      {"wrap", 0xFFFFFFF0u, 0x20},
  };
  for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    uint32_t addr = cases[i].addr;
    expect("write", cases[i].what, syscall3(SYS_WRITE, 1, addr, cases[i].len));
    if (addr == 0xBFFFFFF8u) continue; /* for strings: covered by straddle-top */
    expect("spawn-name", cases[i].what, syscall3(SYS_SPAWN, addr, 0, 0));
    expect("exec-name", cases[i].what, syscall3(SYS_EXEC, addr, 0, 0));
    if (addr) { /* a NULL argument string means "no arguments" */
      expect("spawn-args", cases[i].what, syscall3(SYS_SPAWN, (uint32_t)"hello", addr, 0));
      /* exec must not go ahead with arguments it could not read */
      expect("exec-args", cases[i].what, syscall3(SYS_EXEC, (uint32_t)"hello", addr, 0));
    }
  }
  printf("USER prog=badptrs pid=%d failures=%d\n", getpid(), failures);
  return failures;
}
