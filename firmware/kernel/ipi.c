/* Interprocessor interrupts: see kernel/ipi.h. */
#include "kernel/ipi.h"
#include "arch/i386/cpu.h"
#include "arch/i386/lapic.h"
#include "kernel/kprintf.h"
#include "kernel/panic.h"
#include "kernel/smp.h"
#include "kernel/tlb.h"

bool ipi_send(uint32_t cpu, uint32_t vector) {
  if (!lapic_present || !cpu_is_other_online(cpu)) return false;
  lapic_send(cpus[cpu].apic_id, ICR_FIXED | ICR_ASSERT | vector);
  return true;
}

void ipi_broadcast(uint32_t vector) {
  if (lapic_present) lapic_send_all_but_self(ICR_FIXED | ICR_ASSERT | vector);
}

void ipi_interrupt(uint32_t vector) {
  struct cpu *c = this_cpu();
  if (vector == IPI_TLB) tlb_poll();
  if (vector == IPI_CALL && c->call) {
    void (*call)(void) = c->call;
    c->call = 0;
    call(); /* before the ack: the sender waits for the work, not the arrival */
    c->calls++;
  }
  c->ipis++; /* only this CPU writes it: no lock */
  lapic_eoi();
  cpu_relax(); /* hands the TCG thread back to the sender (kernel/ipi.h) */
}

/* Waits for cpus[cpu]'s IPI count to pass `before`: whether it did. */
static bool wait_ack(uint32_t cpu, uint32_t before) {
  for (uint32_t spin = 0; spin < IPI_ACK_SPINS; spin++) {
    if (cpus[cpu].ipis != before) return true;
    tlb_poll();
    cpu_relax();
  }
  return cpus[cpu].ipis != before;
}

HARNESS_VISIBLE uint32_t ipi_ping(uint32_t rounds) {
  uint32_t acks = 0;
  for (uint32_t r = 0; r < rounds; r++)
    for (uint32_t cpu = 1; cpu < CPU_MAX; cpu++) {
      uint32_t before = cpus[cpu].ipis;
      if (!ipi_send(cpu, IPI_CALL)) continue;
      if (!wait_ack(cpu, before)) return acks;
      acks++;
    }
  return acks;
}

HARNESS_VISIBLE uint32_t ipi_ping_broadcast(uint32_t rounds) {
  uint32_t acks = 0;
  for (uint32_t r = 0; r < rounds; r++) {
    uint32_t before[CPU_MAX];
    for (uint32_t cpu = 0; cpu < CPU_MAX; cpu++) before[cpu] = cpus[cpu].ipis;
    ipi_broadcast(IPI_CALL);
    for (uint32_t cpu = 1; cpu < CPU_MAX; cpu++) {
      if (!cpu_is_online(cpu)) continue;
      if (!wait_ack(cpu, before[cpu])) return acks;
      acks++;
    }
  }
  return acks;
}

uint32_t ipi_park_others(void) {
  struct cpu *self = this_cpu();
  uint32_t others = cpu_online_mask & ~(1u << self->index);
  if (!lapic_present || !others) return 0;
  /* One by one, not the all-but-self shorthand: an NMI would wake a CPU
   * that never started out of its wait for a SIPI. */
  for (uint32_t cpu = 0; cpu < CPU_MAX; cpu++)
    if (others & (1u << cpu)) lapic_send(cpus[cpu].apic_id, ICR_NMI | ICR_ASSERT);
  uint32_t parked = 0;
  for (uint32_t spin = 0; spin < IPI_PARK_SPINS && parked != others; spin++) {
    for (uint32_t cpu = 0; cpu < CPU_MAX; cpu++)
      if ((others & (1u << cpu)) && cpus[cpu].parked) parked |= 1u << cpu;
    cpu_relax();
  }
  krecord("SMP parked=0x%x cpu=%u\n", parked, self->index);
  return parked;
}

volatile uint32_t ipi_test_ran_on = 0xFFFFFFFFu;

HARNESS_VISIBLE void ipi_test_note_cpu(void) { ipi_test_ran_on = this_cpu()->index; }

HARNESS_VISIBLE void ipi_test_panic(void) {
  PANIC("test panic on cpu %u", this_cpu()->index);
}

HARNESS_VISIBLE bool ipi_test_call_on(uint32_t cpu, void (*fn)(void)) {
  if (!cpu_is_online(cpu)) return false;
  if (&cpus[cpu] == this_cpu()) {
    fn();
    return true;
  }
  /* Waits on `calls`, not `ipis`: an IPI_TLB this CPU's last shootdown
   * sent is acknowledged (done) before the target counts it in ipis, so
   * that count could still move for it after `before` was read. */
  uint32_t before = cpus[cpu].calls;
  cpus[cpu].call = fn;
  ipi_send(cpu, IPI_CALL);
  while (cpus[cpu].calls == before) {
    tlb_poll(); /* fn may shoot down a kernel mapping: this CPU must flush too */
    cpu_relax();
  }
  return true;
}

HARNESS_VISIBLE uint32_t ipi_test_call_everywhere(void (*fn)(void)) {
  uint32_t before[CPU_MAX], sent = 0, ran = 1;
  for (uint32_t cpu = 0; cpu < CPU_MAX; cpu++) {
    if (!cpu_is_other_online(cpu)) continue;
    before[cpu] = cpus[cpu].calls; /* not ipis: see ipi_test_call_on */
    cpus[cpu].call = fn;
    if (ipi_send(cpu, IPI_CALL)) sent |= 1u << cpu;
  }
  fn();
  for (uint32_t cpu = 0; cpu < CPU_MAX; cpu++) {
    if (!(sent & (1u << cpu))) continue;
    while (cpus[cpu].calls == before[cpu]) {
      tlb_poll(); /* fn there may ask this CPU for a flush or its frames */
      cpu_relax();
    }
    ran++;
  }
  return ran;
}
