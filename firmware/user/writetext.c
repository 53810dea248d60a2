/* Writes into its own (read-only) code: killed, reason write-to-read-only. */
#include "ulib.h"

int main(void) {
  *(volatile unsigned char *)(uintptr_t)main = 0xC3;
  return 0;
}
