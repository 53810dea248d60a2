/* Writes through a null pointer: killed, reason null-pointer. */
#include "ulib.h"

int main(void) {
  *(volatile int *)0 = 1;
  return 0;
}
