#include "kernel/timer.h"
#include "arch/i386/cpu.h"
#include "arch/i386/io.h"
#include "arch/i386/pic.h"
#include "kernel/cpufeatures.h"
#include "mm/vmm.h"
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

#define MSR_APIC_BASE 0x1B
#define APIC_BASE_MASK 0xFFFFF000u
#define LAPIC_VA 0xFFFFF000u     /* the last kernel page: the local APIC's registers */
#define LAPIC_SVR 0xF0           /* spurious-interrupt vector register */
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define SVR_ENABLE 0x100
#define SPURIOUS_VECTOR 0xFF
#define LVT_EXTINT 0x700
#define LVT_NMI 0x400

/* Virtual-wire mode: the local APIC passes the 8259's INTR through (LINT0 as
 * ExtINT) and LINT1 as NMI.  SeaBIOS sets this up, qboot does not, and QEMU
 * drops PIC interrupts while LINT0 is masked, so the kernel sets it itself. */
static void lapic_virtual_wire(void) {
  paddr_t base = (paddr_t)rdmsr(MSR_APIC_BASE) & APIC_BASE_MASK;
  if (vmm_map(&kernel_page_directory, LAPIC_VA, base, PAGE_WRITE | PAGE_PCD | PAGE_PWT) != 0)
    return;
  volatile uint32_t *lapic = (volatile uint32_t *)LAPIC_VA;
  lapic[LAPIC_SVR / 4] = SVR_ENABLE | SPURIOUS_VECTOR;
  lapic[LAPIC_LVT_LINT0 / 4] = LVT_EXTINT;
  lapic[LAPIC_LVT_LINT1 / 4] = LVT_NMI;
}

void timer_init(void) {
  if (cpu_features.apic && cpu_features.msr) lapic_virtual_wire();
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
