/* The CMOS real-time clock: the kernel's clock that always runs.  QEMU drives
 * it from the host's clock, so it advances in real time with or without
 * -icount and whether or not the PIT ticks (the kernel runs with interrupts
 * off, and the PIT fires only when preempting or watched).
 *
 * Two uses: its periodic interrupt (IRQ 8, RTC_HZ) wakes a disk request's
 * sti; hlt wait often enough to notice a timeout (dev/ata.c unmasks it only
 * then), and rtc_seconds() paces the buffer cache's periodic flush. */
#pragma once

#include "types.h"

#define RTC_HZ 8                  /* CMOS rate 13: 32768 >> 12 */
#define IRQ_RTC 8

extern volatile uint32_t rtc_ticks; /* periodic interrupts taken */

/* Starts the periodic interrupt (masked at the PIC until someone waits). */
void rtc_init(void);
/* Reads register C: the clock raises its line again only after that. */
void rtc_rearm(void);
/* IRQ 8, from trap(). */
void rtc_irq(void);
/* Seconds since midnight, from the clock's time registers. */
uint32_t rtc_seconds(void);
/* Whether `seconds` of wall time have passed since `since` (an rtc_seconds()
 * value): across midnight, yes; when the clock reads up to half a day before
 * `since` (it was set back), nothing has passed yet. */
bool rtc_elapsed(uint32_t since, uint32_t seconds);
