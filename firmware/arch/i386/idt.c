#include "arch/i386/idt.h"
#include "arch/i386/gdt.h"
#include "arch/i386/trapframe.h"

struct idt_gate {
  uint16_t offset_low, selector;
  uint8_t zero, type_attr;
  uint16_t offset_high;
} __attribute__((packed));
_Static_assert(sizeof(struct idt_gate) == 8, "a gate is 8 bytes");

#define GATE_PRESENT 0x80
#define GATE_DPL3 0x60
#define GATE_INTERRUPT32 0x0E /* clears IF on entry: the kernel runs with interrupts off */
#define GATE_TASK 0x05

extern const uint32_t isr_stub_table[48];
extern const uint32_t isr_stub_syscall, isr_stub_lapic_timer, isr_stub_spurious;
extern const uint32_t isr_stub_ipi[VEC_IPI_LAST - VEC_IPI_FIRST + 1];
static struct idt_gate idt[256];

static void set_gate(int vector, uint32_t handler, uint8_t type_attr) {
  idt[vector] = (struct idt_gate){
      .offset_low = handler & 0xFFFF,
      .selector = SEG_KCODE,
      .type_attr = type_attr,
      .offset_high = handler >> 16,
  };
}

void idt_init(void) {
  for (int v = 0; v < 48; v++) set_gate(v, isr_stub_table[v], GATE_PRESENT | GATE_INTERRUPT32);
  /* A double fault switches to its own task (and stack): it is what a kernel
   * stack overflow becomes, and the overflowed stack cannot take a frame. */
  idt[VEC_DOUBLE_FAULT] = (struct idt_gate){
      .selector = SEG_DF_TSS, .type_attr = GATE_PRESENT | GATE_TASK};
  /* The local APIC's spurious interrupt (kernel/timer.c's virtual wire). */
  set_gate(VEC_SPURIOUS, isr_stub_spurious, GATE_PRESENT | GATE_INTERRUPT32);
  /* Each CPU's local APIC timer (arch/i386/lapic_timer.h). */
  set_gate(VEC_LAPIC_TIMER, isr_stub_lapic_timer, GATE_PRESENT | GATE_INTERRUPT32);
  /* Interprocessor interrupts (kernel/ipi.h); ring 3 may not raise them. */
  for (int v = VEC_IPI_FIRST; v <= VEC_IPI_LAST; v++)
    set_gate(v, isr_stub_ipi[v - VEC_IPI_FIRST], GATE_PRESENT | GATE_INTERRUPT32);
  /* int 0x80 is the only gate ring 3 may use. */
  set_gate(VEC_SYSCALL, isr_stub_syscall, GATE_PRESENT | GATE_DPL3 | GATE_INTERRUPT32);
  idt_load();
}

/* One IDT for every CPU: each loads it for itself. */
void idt_load(void) {
  struct {
    uint16_t limit;
    uint32_t base;
  } __attribute__((packed)) idtr = {sizeof(idt) - 1, (uint32_t)idt};
  __asm__ volatile("lidt %0" : : "m"(idtr));
}
