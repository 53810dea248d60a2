#include "arch/i386/lapic.h"
#include "arch/i386/cpu.h"
#include "kernel/cpufeatures.h"
#include "mm/vmm.h"

#define MSR_APIC_BASE 0x1B
#define APIC_BASE_MASK 0xFFFFF000u
#define SVR_ENABLE 0x100
#define SPURIOUS_VECTOR 0xFF
#define LVT_EXTINT 0x700
#define LVT_NMI 0x400

bool lapic_present;

static inline uint32_t lapic_read(uint32_t reg) {
  return *(volatile uint32_t *)(LAPIC_VA + reg);
}

static inline void lapic_write(uint32_t reg, uint32_t value) {
  *(volatile uint32_t *)(LAPIC_VA + reg) = value;
}

void lapic_enable(void) { lapic_write(LAPIC_SVR, SVR_ENABLE | SPURIOUS_VECTOR); }

/* Virtual-wire mode: the local APIC passes the 8259's INTR through (LINT0 as
 * ExtINT) and LINT1 as NMI.  SeaBIOS sets this up, qboot does not, and QEMU
 * drops PIC interrupts while LINT0 is masked, so the kernel sets it itself.
 * The BSP's alone: the 8259 has one CPU to interrupt. */
void lapic_init(void) {
  if (!cpu_features.apic || !cpu_features.msr) return;
  paddr_t base = (paddr_t)rdmsr(MSR_APIC_BASE) & APIC_BASE_MASK;
  /* PCD|PWT: device registers are never cached; no PAGE_OWNED: the page is
   * the device's, not a frame of RAM. */
  if (vmm_map(&kernel_page_directory, LAPIC_VA, base, PAGE_WRITE | PAGE_PCD | PAGE_PWT) != 0)
    return;
  lapic_present = true;
  lapic_enable();
  lapic_write(LAPIC_LVT_LINT0, LVT_EXTINT);
  lapic_write(LAPIC_LVT_LINT1, LVT_NMI);
}

uint32_t lapic_id(void) { return lapic_read(LAPIC_ID) >> 24; }

void lapic_eoi(void) { lapic_write(LAPIC_EOI, 0); }

static void wait_accepted(void) {
  while (lapic_read(LAPIC_ICR_LOW) & ICR_PENDING) cpu_relax();
}

void lapic_send(uint32_t apic_id, uint32_t icr_low) {
  /* Interrupts off across the pair: a handler that sent an IPI between the
   * two writes would leave its own destination in ICR_HIGH. */
  uint32_t flags = read_eflags();
  cli();
  wait_accepted(); /* the SDM's rule: no new ICR write while one is pending */
  lapic_write(LAPIC_ICR_HIGH, apic_id << 24);
  lapic_write(LAPIC_ICR_LOW, icr_low);
  wait_accepted();
  write_eflags(flags);
}

void lapic_send_all_but_self(uint32_t icr_low) {
  wait_accepted();
  lapic_write(LAPIC_ICR_LOW, icr_low | ICR_ALL_BUT_SELF);
  wait_accepted();
}
