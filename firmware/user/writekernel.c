/* Writes kernel memory: killed, reason kernel-address. */
#include "ulib.h"

int main(void) {
  *(volatile int *)0xC0100000 = 0;
  return 0;
}
