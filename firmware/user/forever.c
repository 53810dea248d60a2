/* Counts forever in ring 3: never yields, never makes a system call.  Only
 * an interrupt (the timer) brings the kernel back while it runs. */
#include "ulib.h"

volatile uint32_t spins;

int main(void) {
  for (;;) spins++;
}
