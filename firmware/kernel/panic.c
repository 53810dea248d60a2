#include "kernel/panic.h"
#include "arch/i386/cpu.h"
#include "arch/i386/io.h"
#include "kernel/ipi.h"
#include "kernel/kprintf.h"
#include "kernel/smp.h"

void halt_forever(void) {
  for (;;) {
    cli();
    halt();
  }
}

/* Which CPU is panicking (NO_CPU: none).  The first to panic reports and
 * parks the others (kernel/ipi.h); one that panics after it parks itself,
 * and a panic inside the panic (a fault while reporting) goes straight to
 * the exit rather than recurse. */
#define NO_CPU 0xFFFFFFFFu
static volatile uint32_t panicking_cpu = NO_CPU;
/* The message is formatted first so the record goes out in one krecord call,
 * escaped like any record value (a module name in it cannot end the line). */
static char panic_message[256];

/* Before the GDT is loaded GS means nothing, but then only the BSP runs. */
static uint32_t this_cpu_index(void) {
  return cpu_online_mask == 1 ? 0 : this_cpu()->index;
}

bool panic_in_progress(void) { return panicking_cpu != NO_CPU; }

void panic_park(vaddr_t at) {
  struct cpu *c = this_cpu();
  c->parked_at = at;
  c->parked = 1; /* the panicking CPU waits for this */
  halt_forever();
}

/* Where every panic ends, every other CPU parked: a debugger stopped here
 * sees the whole machine as the panic left it. */
HARNESS_VISIBLE __attribute__((noreturn)) void panic_exit(void) {
  outb(DEBUG_EXIT_PORT, DEBUG_EXIT_PANIC);
  halt_forever();
}

void panic_at(const char *where, const char *fmt, ...) {
  cli();
  uint32_t me = this_cpu_index(), first = NO_CPU;
  if (__atomic_compare_exchange_n(&panicking_cpu, &first, me, false, __ATOMIC_SEQ_CST,
                                  __ATOMIC_SEQ_CST)) {
    va_list ap;
    va_start(ap, fmt);
    kvsnprintf(panic_message, sizeof(panic_message), fmt, ap);
    va_end(ap);
    krecord("PANIC where=%s msg=%pq cpu=%u\n", where, panic_message, me);
    ipi_park_others();
  } else if (first != me) {
    panic_park(CALLER()); /* the first CPU to panic speaks for the machine */
  }
  panic_exit();
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
