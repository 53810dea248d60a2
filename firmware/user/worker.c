/* Uses a bit of everything a process owns, then exits: heap pages, stack
 * pages, a shared-memory segment (created, attached, detached). */
#include "ulib.h"

static int __attribute__((noinline)) deep(int n) {
  volatile char frame[3000];
  frame[0] = (char)n;
  return n ? deep(n - 1) + frame[0] : 0;
}

int main(void) {
  volatile char *heap = sbrk(3 * 4096);
  if (IS_ERR(heap)) return 1;
  for (int i = 0; i < 3; i++) heap[i * 4096] = (char)i;
  deep(4);
  int id = shm_create(2);
  volatile char *shared = shm_attach(id);
  if (id < 0 || IS_ERR(shared)) return 2;
  shared[4096] = 1;
  return shm_detach((void *)shared) == 0 ? 0 : 3;
}
