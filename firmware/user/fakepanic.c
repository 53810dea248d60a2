/* Prints a kernel panic record, then exits normally with status 3: the
 * machine must be seen running on, not panicked. */
#include "ulib.h"

int main(void) {
  printf("PANIC where=trap msg=\"forged by a user program\"\n");
  return 3;
}
