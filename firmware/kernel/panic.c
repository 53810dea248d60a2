#include "kernel/panic.h"
#include "arch/i386/cpu.h"
#include "arch/i386/io.h"
#include "kernel/kprintf.h"

void halt_forever(void) {
  for (;;) {
    cli();
    halt();
  }
}

/* Nested panics (a fault while panicking) must not recurse forever. */
static bool panicking;
/* The message is formatted first so the record goes out in one krecord call,
 * escaped like any record value (a module name in it cannot end the line). */
static char panic_message[256];

void panic_at(const char *where, const char *fmt, ...) {
  cli();
  if (!panicking) {
    panicking = true;
    va_list ap;
    va_start(ap, fmt);
    kvsnprintf(panic_message, sizeof(panic_message), fmt, ap);
    va_end(ap);
    krecord("PANIC where=%s msg=%pq\n", where, panic_message);
  }
  outb(DEBUG_EXIT_PORT, DEBUG_EXIT_PANIC);
  halt_forever();
}

void poweroff(uint32_t status) {
  krecord("POWEROFF status=%u\n", status);
  outb(DEBUG_EXIT_PORT, DEBUG_EXIT_POWEROFF);
  halt_forever();
}

/* -fstack-protector-strong: the canary every protected frame holds, chosen
 * at boot (stack_guard_init) from the same entropy as ASLR. */
uint32_t __stack_chk_guard = 0xE2A1C0DEu;

__attribute__((noreturn)) void __stack_chk_fail(void);
void __stack_chk_fail(void) {
  PANIC("stack protector: a smashed canary in the frame returning to %p", (void *)CALLER());
}
