#include "kernel/timer.h"
#include "arch/i386/cpu.h"
#include "arch/i386/io.h"
#include "arch/i386/lapic.h"
#include "arch/i386/lapic_timer.h"
#include "arch/i386/pic.h"
#include "kernel/cmdline.h"
#include "kernel/kprintf.h"

#define ICW1_INIT_ICW4 0x11
#define ICW4_8086 0x01
#define PIT_CMD 0x43
#define PIT_CH0 0x40
#define PIT_RATE_GENERATOR 0x34 /* channel 0, lo/hi byte, mode 2 */
#define PIT_FREQUENCY 1193182u

volatile uint32_t timer_ticks;
static bool preempt;

static void timer_start(void);

static void (*watch)(void);

bool timer_preemption(void) { return preempt; }
bool timer_ticking(void) { return preempt || watch; }

void timer_init(void) {
  lapic_init(); /* the virtual wire: the PIT's IRQ 0 reaches the CPU through it */
  lapic_timer_init(); /* measured against the PIT's channel 2, before channel 0 runs */
  /* Remap: the BIOS leaves IRQ 0-7 on vectors 8-15, which are exceptions. */
  outb(PIC1_CMD, ICW1_INIT_ICW4);
  outb(PIC2_CMD, ICW1_INIT_ICW4);
  outb(PIC1_DATA, 32);
  outb(PIC2_DATA, 40);
  outb(PIC1_DATA, 4); /* slave on IRQ 2 */
  outb(PIC2_DATA, 2);
  outb(PIC1_DATA, ICW4_8086);
  outb(PIC2_DATA, ICW4_8086);
  preempt = cmdline_bool("preempt", false);
  outb(PIC2_DATA, 0xFF);
  outb(PIC1_DATA, 0xFF); /* every line masked until its driver wants it */
  if (preempt) timer_start();
  krecord("TIMER preempt=%d hz=%u\n", preempt, preempt ? TIMER_HZ : 0);
}

/* The PIT at TIMER_HZ on IRQ 0.  Only IRQ 0's mask bit changes here: a
 * driver that unmasked the cascade (the balloon's PCI line) keeps it. */
static void timer_start(void) {
  uint32_t divisor = PIT_FREQUENCY / TIMER_HZ;
  outb(PIT_CMD, PIT_RATE_GENERATOR);
  outb(PIT_CH0, divisor & 0xFF);
  outb(PIT_CH0, divisor >> 8);
  pic_unmask(0);
}

void timer_watch(void (*fn)(void)) {
  watch = fn;
  if (!preempt) timer_start();
}

void timer_unwatch(void) {
  watch = NULL;
  if (!preempt) outb(PIC1_DATA, inb(PIC1_DATA) | 1u); /* as timer_init left it: no ticks */
}

void timer_irq(void) {
  timer_ticks++;
  pic_eoi(0);
  if (watch) watch();
}
