/* Functions that exist for the harness to call through GDB: provoking
 * exceptions, powering off, and a trivial call to time the call path.  They
 * are ordinary kernel code and run with the kernel's own state. */
#include "kernel/panic.h"
#include "types.h"

HARNESS_VISIBLE uint32_t agent_nop(uint32_t x) { return x; }

HARNESS_VISIBLE void agent_poweroff(void) { poweroff(0); }

/* #GP with the selector as its error code: load a selector beyond the GDT. */
HARNESS_VISIBLE void agent_raise_gp(uint16_t selector) {
  __asm__ volatile("mov %0, %%fs" : : "r"(selector));
}

/* #UD: an instruction defined to be invalid. */
HARNESS_VISIBLE void agent_raise_ud(void) { __asm__ volatile("ud2"); }

/* #DE: divide by zero (no error code). */
HARNESS_VISIBLE uint32_t agent_divide(uint32_t a, uint32_t b) {
  uint32_t q;
  __asm__ volatile("xor %%edx, %%edx\n\tdivl %2" : "=a"(q) : "a"(a), "r"(b) : "edx");
  return q;
}

/* A kernel read of any address (a #PF if it is unmapped). */
HARNESS_VISIBLE uint32_t agent_read32(uint32_t addr) { return *(volatile uint32_t *)addr; }

/* A kernel write of any address. */
HARNESS_VISIBLE void agent_write32(uint32_t addr, uint32_t value) {
  *(volatile uint32_t *)addr = value;
}

/* Scratch memory the harness may use for arguments (strings, buffers). */
uint8_t agent_scratch[4096] __attribute__((aligned(4096), used));

/* Never returns: for testing how the harness handles a hung guest. */
HARNESS_VISIBLE void agent_spin(void) {
  for (;;) __asm__ volatile("pause" ::: "memory");
}

/* Never called by the kernel: a location the guest never reaches. */
HARNESS_VISIBLE void agent_never_called(void) { __asm__ volatile("" ::: "memory"); }
