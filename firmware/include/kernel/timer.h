/* The legacy interrupt controllers and timer: the 8259 PICs remapped to
 * vectors 32-47 (all lines masked), and, with `preempt=on`, the PIT firing
 * IRQ 0 at TIMER_HZ so a process that never yields is switched out anyway. */
#pragma once

#include "types.h"

#define TIMER_HZ 100

void timer_init(void);
bool timer_preemption(void);
/* IRQ 0: acknowledges it and counts the tick. */
void timer_irq(void);
extern volatile uint32_t timer_ticks;
