/* Each CPU's local APIC timer, in periodic mode at TIMER_HZ on vector
 * VEC_LAPIC_TIMER (0xEF), with `lapic_timer=on` (off by default: nothing
 * uses its ticks yet; the scheduler on every CPU will, and a tick taken in
 * ring 3 would change the instruction counts the single-CPU benches
 * measure).  TSC-deadline mode is not used: no TCG CPU model has it.
 *
 * The timer counts at the bus clock divided by 1, a rate the kernel does not
 * know; the BSP measures it against PIT channel 2 (2 ms one-shots, gated
 * through port 0x61, the least of five) and every CPU uses that count, the
 * bus clock being common to them all.  Each CPU records
 *   TIMER cpu=<i> mode=periodic vector=0xef hz=<TIMER_HZ> count=<initial count>
 * and counts its ticks in its struct cpu's `ticks`. */
#pragma once

#include "types.h"

/* On the BSP, after lapic_init: reads `lapic_timer`, calibrates, starts its
 * own timer.  Does nothing when off or without a local APIC. */
void lapic_timer_init(void);
/* On an AP, once its LAPIC is enabled: starts its timer with the BSP's
 * count, if the BSP started one. */
void lapic_timer_start_ap(void);
/* The tick (from trap()): counts it on this CPU and acknowledges it. */
void lapic_timer_irq(void);
/* The count the BSP calibrated for one tick; 0 when the timers are off. */
extern uint32_t lapic_timer_count;

/* Test entry: the calling CPU sleeps with interrupts on (sti; hlt) until it
 * has taken `ticks` of its own ticks; returns how many it took (fewer only
 * when the timers are off or after LAPIC_TIMER_WAIT_HALTS wakings). */
#define LAPIC_TIMER_WAIT_HALTS 100000u
uint32_t lapic_timer_wait(uint32_t ticks);
