/* Reads the address given as its argument (decimal): a process trying to
 * reach memory that is not its own. */
#include "ulib.h"

int main(int argc, char **argv) {
  uint32_t addr = argc > 1 ? (uint32_t)atoi(argv[1]) : 0;
  printf("USER prog=probe pid=%d addr=0x%x\n", getpid(), addr);
  return *(volatile int *)addr;
}
