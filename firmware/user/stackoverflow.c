/* Recurses until the stack reaches its guard page: killed, stack-overflow.
 * Each frame touches a page, so the stack grows by demand paging first.  The
 * depth limit is far past the 1 MiB stack: it only keeps the compiler from
 * calling this an infinite recursion. */
#include "ulib.h"

static int __attribute__((noinline)) dive(int depth) {
  volatile char frame[4000];
  frame[0] = (char)depth;
  if (depth > 100000) return 0;
  return dive(depth + 1) + frame[0];
}

int main(void) { return dive(0); }
