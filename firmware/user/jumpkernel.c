/* Calls into kernel code: the fetch faults, killed, reason kernel-address. */
#include "ulib.h"

int main(void) {
  ((void (*)(void))0xC0100000)();
  return 0;
}
