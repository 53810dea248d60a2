/* The legacy interrupt controllers and timer: the 8259 PICs remapped to
 * vectors 32-47 (all lines masked), and, with `preempt=on` or while watched
 * (timer_watch), the PIT firing IRQ 0 at TIMER_HZ; preemption switches out a
 * process that never yields. */
#pragma once

#include "types.h"

#define TIMER_HZ 100

void timer_init(void);
bool timer_preemption(void);
/* Whether IRQ 0 fires at all: preempting, or watched. */
bool timer_ticking(void);
/* IRQ 0: acknowledges it, counts the tick, and calls the watch, if any. */
void timer_irq(void);
/* Ticks at TIMER_HZ (preempting or not) and calls fn on every tick until
 * timer_unwatch(), from the IRQ, with interrupts off.  Ticks reach the kernel
 * only from ring 3 (the kernel runs with interrupts off): what fn sees runs
 * even while a process never yields.  The shell's `run` watches COM1 for
 * Ctrl-C this way. */
void timer_watch(void (*fn)(void));
void timer_unwatch(void);
extern volatile uint32_t timer_ticks;
