/* Broken invariants and the end of the machine.
 *
 * panic() prints one record, `PANIC where=<function> msg="<text>" cpu=<i>`,
 * parks every other CPU (kernel/ipi.h), then stops the machine: through QEMU's isa-debug-exit device when present (QEMU
 * exits with status EXIT_STATUS_PANIC), else by halting with interrupts off.
 * Running out of something is not a panic (callers get NULL or an error), and
 * neither is bad input from a caller (reported and refused). */
#pragma once

#include "types.h"

/* isa-debug-exit at this port makes QEMU exit with status (value << 1) | 1. */
#define DEBUG_EXIT_PORT 0xF4
#define DEBUG_EXIT_POWEROFF 0x10 /* QEMU exit status 33 */
#define DEBUG_EXIT_PANIC 0x31    /* QEMU exit status 99 */

#define PANIC(...) panic_at(__func__, __VA_ARGS__)

__attribute__((noreturn, format(printf, 2, 3))) void panic_at(const char *where,
                                                              const char *fmt, ...);
/* Orderly stop: prints `POWEROFF status=<status>` and exits QEMU with
 * EXIT_STATUS_POWEROFF, or halts on hardware without the device. */
__attribute__((noreturn)) void poweroff(uint32_t status);
/* Whether some CPU has begun to panic. */
bool panic_in_progress(void);
/* On a CPU told to stop by another's panic (its NMI, kernel/ipi.h), or
 * that panics after another did: notes where it was (`at`, in its struct
 * cpu's parked_at), marks it parked and halts it for good. */
__attribute__((noreturn)) void panic_park(vaddr_t at);
/* Stops the CPU for good, interrupts off. */
__attribute__((noreturn)) void halt_forever(void);

/* The stack-protector canary (set once at boot, before anything protected
 * that is live then returns). */
extern uint32_t __stack_chk_guard;

#define ASSERT(cond)                                                      \
  do {                                                                    \
    if (!(cond)) panic_at(__func__, "assertion failed: %s", #cond);       \
  } while (0)
