#include "kernel/trap.h"
#include "arch/i386/cpu.h"
#include "arch/i386/gdt.h"
#include "arch/i386/idt.h"
#include "arch/i386/lapic_timer.h"
#include "dev/ata.h"
#include "dev/balloon.h"
#include "dev/rtc.h"
#include "kernel/ipi.h"
#include "kernel/kprintf.h"
#include "kernel/panic.h"
#include "kernel/proc.h"
#include "kernel/smp.h"
#include "arch/i386/paging.h"
#include "memlayout.h"
#include "kernel/syscall.h"
#include "kernel/timer.h"
#include "mm/fault.h"

static const char *const names[VEC_EXCEPTIONS] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS",
    "#NP", "#SS", "#GP", "#PF", "RSV", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
    "RSV", "RSV", "RSV", "RSV", "RSV", "RSV", "#HV", "#VC", "#SX", "RSV"};

const char *exception_name(uint32_t vector) {
  return vector < VEC_EXCEPTIONS ? names[vector] : "INT";
}

void exception_report(const struct trapframe *tf, uint32_t cr2) {
  if (tf->vector == VEC_PAGE_FAULT)
    krecord("EXC vec=%u name=%s err=0x%x eip=%p cs=0x%x eflags=0x%x cr2=%p\n", tf->vector,
            exception_name(tf->vector), tf->err, (void *)tf->eip, tf->cs, tf->eflags,
            (void *)cr2);
  else
    krecord("EXC vec=%u name=%s err=0x%x eip=%p cs=0x%x eflags=0x%x\n", tf->vector,
            exception_name(tf->vector), tf->err, (void *)tf->eip, tf->cs, tf->eflags);
}

/* Why a process dies of an exception other than a page fault. */
static const char *kill_reason(uint32_t vector) {
  switch (vector) {
  case VEC_DIVIDE: return "divide-error";
  case VEC_INVALID_OPCODE: return "invalid-opcode";
  case VEC_GENERAL_PROTECTION: return "general-protection";
  case VEC_STACK_FAULT: return "stack-fault";
  case VEC_BREAKPOINT: return "breakpoint";
  default: return "exception";
  }
}

#define IRQ_TIMER (VEC_IRQ_BASE + 0)
#define IRQ_LAST (VEC_IRQ_BASE + 15)
#define IRQ_ATA_PRIMARY (VEC_IRQ_BASE + 14)
#define IRQ_ATA_SECONDARY (VEC_IRQ_BASE + 15)

/* Every trap CPU 0 takes, counted for the harness (harness/machine/progress.py):
 * a kernel that takes none, writes nothing and changes none of its data for
 * seconds is stuck in a loop.  CPU 0's alone: the harness watches CPU 0, and
 * the other CPUs' ticks and IPIs must not make a stuck CPU 0 look busy (what
 * they count goes to their own struct cpu, which the watch leaves out). */
volatile uint32_t trap_count;

void trap(struct trapframe *tf) {
  if (this_cpu() == &cpus[0]) trap_count++;
  uint32_t vector = tf->vector;
  /* Another CPU's panic stops this one here (its frame keeps where it was). */
  if (vector == VEC_NMI && panic_in_progress()) panic_park(tf->eip);
  if (vector == IRQ_TIMER) timer_irq(); /* first: its watch may interrupt the run */
  if (__builtin_expect(sched_interrupting, 0) && current && TRAP_FROM_USER(tf))
    proc_kill(PROC_REASON_INTERRUPTED, 0, 0, tf->eip);
  if (vector == VEC_SYSCALL) return syscall_dispatch(tf);
  if (vector >= VEC_IPI_FIRST && vector <= VEC_IPI_LAST) return ipi_interrupt(vector);
  if (vector == VEC_LAPIC_TIMER) return lapic_timer_irq(); /* counted; preempts nothing yet */
  if (vector == VEC_PAGE_FAULT) return page_fault_handler(tf);
  if (vector == IRQ_TIMER) {
    if (current && TRAP_FROM_USER(tf) && timer_preemption()) sched_yield();
    return;
  }
  if (vector == IRQ_ATA_PRIMARY || vector == IRQ_ATA_SECONDARY)
    return ata_irq(vector - VEC_IRQ_BASE);
  if (vector == VEC_IRQ_BASE + IRQ_RTC) return rtc_irq(); /* a disk wait's clock */
  if (vector == VEC_IRQ_BASE + (uint32_t)balloon_irq_line) {
    balloon_irq(); /* notes it; the work is balloon_poll's, at a safe point */
    /* The scheduler's loop is one: a program that never traps would hold a
     * change back until it ends (preemption is off by default). */
    if (current && TRAP_FROM_USER(tf)) sched_yield();
    return;
  }
  if ((vector > IRQ_TIMER && vector <= IRQ_LAST) || vector == VEC_SPURIOUS)
    return; /* masked lines fire only spuriously (IRQ 7/15), and need no EOI */
  if (vector < VEC_EXCEPTIONS) {
    exception_report(tf, 0);
    if (TRAP_FROM_USER(tf) && current) proc_kill(kill_reason(vector), 0, tf->err, tf->eip);
    PANIC("unhandled %s in %s mode at eip=%p", exception_name(vector),
          TRAP_FROM_USER(tf) ? "user" : "kernel", (void *)tf->eip);
  }
  PANIC("unexpected interrupt vector %u", vector);
}

/* The double-fault task.  A #DF arrives through a task gate, so this runs on
 * its own stack with the faulting context saved in this CPU's TSS, which is
 * what a kernel stack overflow needs (the overflowed stack cannot take a
 * frame).  Each CPU has its own task (its GDT's SEG_DF_TSS names its
 * df_tss), which loads GS = SEG_KPERCPU, so this_cpu() works here too. */
static uint8_t double_fault_stack[4096] __attribute__((aligned(16))); /* the BSP's */

/* Whose kernel stack esp has run off: its guard page is unmapped, so an
 * overflow faults there, and the fault cannot push its frame: a #DF. */
static bool in_guard(vaddr_t esp, vaddr_t guard) {
  return esp >= guard && esp < guard + PAGE_SIZE + 64; /* a frame's worth above it too */
}

static void __attribute__((noreturn)) double_fault_task(void) {
  const struct tss *faulted = &this_cpu()->tss;
  vaddr_t esp = faulted->esp;
  krecord("EXC vec=%u name=%s err=0x0 eip=%p cs=0x%x eflags=0x%x esp=%p\n", VEC_DOUBLE_FAULT,
          exception_name(VEC_DOUBLE_FAULT), (void *)faulted->eip, faulted->cs,
          faulted->eflags, (void *)esp);
  if (in_guard(esp, (vaddr_t)boot_stack_guard))
    PANIC("kernel stack overflow: boot stack, eip=%p esp=%p", (void *)faulted->eip,
          (void *)esp);
  for (uint32_t i = 1; i < CPU_MAX; i++)
    if (cpus[i].stack_top && in_guard(esp, cpu_stack_guard(i)))
      PANIC("kernel stack overflow: cpu %u idle stack, eip=%p esp=%p", i,
            (void *)faulted->eip, (void *)esp);
  for (uint32_t i = 0; i < PROC_MAX; i++)
    if (proc_table[i].state != PROC_FREE && in_guard(esp, proc_table[i].kstack_base - PAGE_SIZE))
      PANIC("kernel stack overflow: pid %u (%s), eip=%p esp=%p", proc_table[i].pid,
            proc_table[i].name, (void *)faulted->eip, (void *)esp);
  PANIC("double fault at eip=%p esp=%p", (void *)faulted->eip, (void *)esp);
}

void trap_init_double_fault(struct cpu *c, vaddr_t stack_top) {
  struct tss *t = &c->df_tss;
  t->eip = (uint32_t)double_fault_task;
  t->esp = stack_top;
  t->cs = SEG_KCODE;
  t->ss = t->ds = t->es = t->fs = SEG_KDATA;
  t->gs = SEG_KPERCPU;
  t->eflags = 0x2; /* reserved bit 1; interrupts off */
  t->cr3 = read_cr3();
}

void trap_init(void) {
  gdt_init();
  idt_init();
  trap_init_double_fault(&cpus[0], (vaddr_t)(double_fault_stack + sizeof(double_fault_stack)));
}

/* Address spaces change; the double-fault task must run in one that maps the
 * kernel, and every directory does. */
void trap_set_double_fault_cr3(paddr_t cr3) { this_cpu()->df_tss.cr3 = cr3; }
