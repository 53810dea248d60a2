/* Each CPU's local APIC timer: see lapic_timer.h. */
#include "arch/i386/lapic_timer.h"
#include "arch/i386/cpu.h"
#include "arch/i386/io.h"
#include "arch/i386/lapic.h"
#include "arch/i386/trapframe.h"
#include "kernel/cmdline.h"
#include "kernel/kprintf.h"
#include "kernel/lockdep.h"
#include "kernel/smp.h"
#include "kernel/timer.h"

#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TIMER_INITIAL 0x380
#define LAPIC_TIMER_CURRENT 0x390
#define LAPIC_TIMER_DIVIDE 0x3E0
#define DIVIDE_BY_1 0xB
#define LVT_MASKED 0x10000u
#define LVT_PERIODIC 0x20000u

/* PIT channel 2: its gate is bit 0 of port 0x61 and its output reads back
 * in bit 5; bit 1 would drive the speaker. */
#define PIT_CMD 0x43
#define PIT_CH2 0x42
#define PIT_CH2_ONESHOT 0xB0 /* channel 2, lo/hi byte, mode 0: out rises at 0 */
#define PORT_B 0x61
#define PORT_B_GATE2 0x01
#define PORT_B_SPEAKER 0x02
#define PORT_B_OUT2 0x20
#define PIT_FREQUENCY 1193182u
#define CALIBRATE_MS 2u
#define CALIBRATE_RUNS 5u

uint32_t lapic_timer_count;

static inline void lapic_write(uint32_t reg, uint32_t value) {
  *(volatile uint32_t *)(LAPIC_VA + reg) = value;
}

static inline uint32_t lapic_read(uint32_t reg) {
  return *(volatile uint32_t *)(LAPIC_VA + reg);
}

/* Timer counts (divide by 1) while PIT channel 2 counts `pit_count` of
 * its periods.  Never fewer than the true number: anything that delays the
 * poll (without -icount QEMU's clock is the host's, and a loaded host may
 * not run the vCPU for milliseconds) only adds. */
static uint32_t measure(uint16_t pit_count) {
  uint8_t port_b = inb(PORT_B) & (uint8_t)~(PORT_B_SPEAKER | PORT_B_GATE2);
  outb(PORT_B, port_b); /* gate low: channel 2 holds */
  outb(PIT_CMD, PIT_CH2_ONESHOT);
  outb(PIT_CH2, pit_count & 0xFF);
  outb(PIT_CH2, pit_count >> 8);
  lapic_write(LAPIC_TIMER_INITIAL, 0xFFFFFFFFu);
  outb(PORT_B, port_b | PORT_B_GATE2); /* both count from here */
  while (!(inb(PORT_B) & PORT_B_OUT2)) {
  }
  uint32_t elapsed = 0xFFFFFFFFu - lapic_read(LAPIC_TIMER_CURRENT);
  lapic_write(LAPIC_TIMER_INITIAL, 0); /* stopped */
  outb(PORT_B, port_b);
  return elapsed;
}

/* Timer counts in one TIMER_HZ tick: the least of CALIBRATE_RUNS
 * measurements (each can only err upwards), scaled from whole PIT
 * periods. */
static uint32_t calibrate(void) {
  lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | VEC_LAPIC_TIMER); /* one-shot, silent */
  lapic_write(LAPIC_TIMER_DIVIDE, DIVIDE_BY_1);
  uint16_t pit_count = (uint16_t)(PIT_FREQUENCY * CALIBRATE_MS / 1000);
  uint32_t least = 0xFFFFFFFFu;
  for (uint32_t run = 0; run < CALIBRATE_RUNS; run++) {
    uint32_t elapsed = measure(pit_count);
    if (elapsed < least) least = elapsed;
  }
  return (uint32_t)((uint64_t)least * PIT_FREQUENCY / ((uint64_t)pit_count * TIMER_HZ));
}

/* This CPU's timer, periodic at TIMER_HZ, and its record. */
static void start(void) {
  struct cpu *c = this_cpu();
  lapic_write(LAPIC_TIMER_DIVIDE, DIVIDE_BY_1);
  lapic_write(LAPIC_LVT_TIMER, LVT_PERIODIC | VEC_LAPIC_TIMER);
  lapic_write(LAPIC_TIMER_INITIAL, lapic_timer_count);
  krecord("TIMER cpu=%u mode=periodic vector=0x%x hz=%u count=%u\n", c->index,
          VEC_LAPIC_TIMER, TIMER_HZ, lapic_timer_count);
}

void lapic_timer_init(void) {
  bool on = cmdline_bool("lapic_timer", false); /* asked even without a LAPIC: a known word */
  if (!on || !lapic_present) return;
  lapic_timer_count = calibrate();
  if (lapic_timer_count) start();
}

void lapic_timer_start_ap(void) {
  if (lapic_timer_count) start();
}

void lapic_timer_irq(void) {
  this_cpu()->ticks++; /* only this CPU writes it */
  lapic_eoi();
}

HARNESS_VISIBLE uint32_t lapic_timer_wait(uint32_t ticks) {
  struct cpu *c = this_cpu();
  uint32_t start_ticks = c->ticks;
  lockdep_assert_none_held("lapic_timer_wait");
  if (!lapic_timer_count) return 0;
  for (uint32_t halts = 0; c->ticks - start_ticks < ticks && halts < LAPIC_TIMER_WAIT_HALTS;
       halts++)
    __asm__ volatile("sti; hlt; cli" ::: "memory");
  return c->ticks - start_ticks;
}
