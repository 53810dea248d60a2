/* Writes a value at the start of its heap, stops at checkpoint(1) so the
 * harness can compare processes, yields, and checks the value is still its
 * own.  With `aslr=off` every instance uses the same heap address. */
#include "ulib.h"

int main(int argc, char **argv) {
  uint32_t value = argc > 1 ? (uint32_t)atoi(argv[1]) : 0x1234;
  volatile uint32_t *heap = sbrk(4096);
  heap[0] = value;
  checkpoint(1);
  for (int i = 0; i < 4; i++) yield();
  printf("USER prog=isolation pid=%d addr=%p value=%u intact=%d\n", getpid(), heap, heap[0],
         heap[0] == value);
  return heap[0] == value ? 0 : 1;
}
