/* Touches memory past the heap break: killed, reason unmapped. */
#include "ulib.h"

int main(void) {
  volatile char *heap = sbrk(4096);
  heap[0] = 1;        /* inside: a demand page */
  heap[4096 + 64] = 2; /* past the break */
  return 0;
}
