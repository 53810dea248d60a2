/* Minds its own business while others attack: fills a heap page with a
 * pattern, yields often, and checks the pattern at the end. */
#include "ulib.h"

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 50;
  volatile uint32_t *heap = sbrk(4096);
  for (int i = 0; i < 1024; i++) heap[i] = 0xB0B00000u + (uint32_t)i;
  for (int r = 0; r < rounds; r++) yield();
  int bad = 0;
  for (int i = 0; i < 1024; i++) bad += heap[i] != 0xB0B00000u + (uint32_t)i;
  printf("USER prog=bystander pid=%d intact=%d\n", getpid(), bad == 0);
  return bad;
}
