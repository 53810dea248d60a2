/* Interprocessor interrupts: one CPU interrupts another through its local
 * APIC.  The vectors (arch/i386/trapframe.h) sit in the highest priority
 * class, above every device line:
 *   IPI_TLB 0xF0        serve this CPU's TLB shootdown mailboxes (kernel/tlb.h)
 *   IPI_RESCHEDULE 0xF1 look at the run queue (the scheduler is CPU 0's yet)
 *   IPI_CALL 0xF2       runs the target's struct cpu `call` (if set) first
 * (0xEF is kept for the LAPIC timer.)  Every one is counted on the CPU that
 * takes it, in its struct cpu's `ipis`, which is also the ack of a ping: a
 * sender waits until the count moves.  A call is acknowledged by `calls`,
 * counted once its function has returned (a TLB request is acknowledged by
 * its mailbox, before `ipis` counts it, so `ipis` may still move for one
 * after a call was sent).  The handler ends with `pause`: under
 * -icount every vCPU shares one TCG thread, and a CPU that neither pauses
 * nor halts keeps it to the end of its slice (tens of millions of
 * instructions), so the sender would see the ack that late.
 *
 * The kernel runs with interrupts off outside ring 3 and the idle and disk
 * `sti; hlt` windows, so an IPI reaches an AP in its idle loop. */
#pragma once

#include "arch/i386/trapframe.h"
#include "types.h"

enum { IPI_TLB = VEC_IPI_FIRST, IPI_RESCHEDULE = VEC_IPI_FIRST + 1, IPI_CALL = VEC_IPI_FIRST + 2 };
_Static_assert((int)IPI_CALL == (int)VEC_IPI_LAST, "one gate per IPI vector");

/* Interrupts cpus[cpu] with `vector`; false (nothing sent) for a CPU that is
 * not online, for the caller itself, or without a local APIC. */
bool ipi_send(uint32_t cpu, uint32_t vector);
/* Interrupts every other CPU, online or not: the APIC's shorthand reaches
 * them all, and one that never started holds it in wait-for-SIPI unseen. */
void ipi_broadcast(uint32_t vector);
/* From trap(), on the CPU that took the IPI: runs its call (IPI_CALL),
 * counts it, EOI, pause. */
void ipi_interrupt(uint32_t vector);

/* Panic parking (kernel/panic.c).  ipi_park_others, on the CPU that
 * panics: an NMI to every other online CPU (an NMI gets through with
 * interrupts off, where a CPU spinning on something would never take an
 * ordinary IPI), then a bounded wait until each says it is parked; records
 *   SMP parked=0x<mask> cpu=<the panicking CPU>
 * and returns the mask.  A parked CPU sits in halt_forever inside its NMI
 * handler, its interrupted state on its own stack, so a debugger sees each
 * CPU where the panic caught it.  Does nothing with one CPU online. */
#define IPI_PARK_SPINS (1u << 20)
uint32_t ipi_park_others(void);

/* Test entries (called by the harness on CPU 0).  ipi_ping: `rounds` times,
 * IPI_CALL to each online AP in turn, waiting for its ack before the next;
 * ipi_ping_broadcast: `rounds` broadcasts, each waiting for every online AP's
 * ack.  Both return the acks seen (rounds times the APs when none is lost);
 * an ack that does not come within IPI_ACK_SPINS pauses ends the run. */
#define IPI_ACK_SPINS (1u << 24)
uint32_t ipi_ping(uint32_t rounds);
uint32_t ipi_ping_broadcast(uint32_t rounds);
/* Test entry: CPU `cpu` runs fn (through IPI_CALL when it is not the
 * caller) while the caller spins with interrupts off for its ack, as a CPU
 * waiting on a lock would, without a bound: fn may never return (a panic, a
 * stack overflow).  Returns whether fn ran (false: `cpu` is not online). */
bool ipi_test_call_on(uint32_t cpu, void (*fn)(void));
/* Test entry: fn on every online CPU at once, an IPI_CALL to each other CPU
 * and fn here, then each one's ack (its handler runs fn before it acks, so
 * the ack means fn has returned there), polling this CPU's requests while it
 * waits.  Returns how many CPUs ran it. */
uint32_t ipi_test_call_everywhere(void (*fn)(void));
/* A panic, for ipi_test_call_on. */
void ipi_test_panic(void);
/* For ipi_test_call_on: notes which CPU ran it in ipi_test_ran_on (with the
 * ack, the caller may read it as soon as ipi_test_call_on returns). */
void ipi_test_note_cpu(void);
extern volatile uint32_t ipi_test_ran_on;
