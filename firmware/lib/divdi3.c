/* 64-bit division helpers GCC calls on i386 (normally from libgcc, which a
 * freestanding build on a 64-bit host does not have in 32-bit form).  Plain
 * shift-and-subtract: only used off the hot paths (statistics, benchmarks). */
#include "types.h"

uint64_t __udivmoddi4(uint64_t num, uint64_t den, uint64_t *rem);
uint64_t __udivdi3(uint64_t num, uint64_t den);
uint64_t __umoddi3(uint64_t num, uint64_t den);

uint64_t __udivmoddi4(uint64_t num, uint64_t den, uint64_t *rem) {
  uint64_t quot = 0, bit = 1;
  if (den == 0) { /* what hardware division would do: trap */
    __asm__ volatile("ud2");
  }
  while (den < num && !(den & (1ull << 63))) {
    den <<= 1;
    bit <<= 1;
  }
  while (bit) {
    if (num >= den) {
      num -= den;
      quot |= bit;
    }
    den >>= 1;
    bit >>= 1;
  }
  if (rem) *rem = num;
  return quot;
}

uint64_t __udivdi3(uint64_t num, uint64_t den) { return __udivmoddi4(num, den, NULL); }

uint64_t __umoddi3(uint64_t num, uint64_t den) {
  uint64_t rem;
  __udivmoddi4(num, den, &rem);
  return rem;
}
