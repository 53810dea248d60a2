/* Per-CPU data and the CPUs that are online.
 *
 * Each CPU has a struct cpu: its own GDT (a TSS descriptor is marked busy by
 * `ltr`, so two CPUs cannot share one), its TSS and double-fault TSS, and the
 * stack it idles on.  A CPU finds its own through the GS base: entry
 * SEG_KPERCPU of its GDT is a data segment whose base is &cpus[i], the kernel
 * runs with GS = SEG_KPERCPU (trap entry loads it; ring 3 keeps its own, put
 * back by iret), and cpus[i].self is the struct's first word, so this_cpu() is
 * one `mov %gs:0`.  A debugger sees the same: a CPU in the kernel has
 * gs_base == &cpus[i].
 *
 * CPU 0 is the one that booted (the BSP); smp_init starts the others (the
 * APs) one at a time, in the order the firmware's tables list them, and
 * records for each
 *   SMP cpu=<i> apic=<id> state=online|no-start
 * then
 *   SMP online=<n> mask=0x<cpu_online_mask>
 * An AP that does not answer within the wait (the CMOS clock, twice) is left
 * out and never waited for again.  `smp_start=off` (a test switch) sends each
 * AP its INIT but no SIPI, so every AP takes the no-start path for real. */
#pragma once

#include "arch/i386/gdt.h"
#include "kernel/lockdep.h"
#include "kernel/smp_tables.h" /* CPU_MAX */
#include "kernel/tlb.h"
#include "arch/i386/paging.h" /* PAGE_SIZE */
#include "memlayout.h"
#include "mm/pcp.h"
#include "types.h"

struct cpu {
  struct cpu *self;         /* first: %gs:0 is this CPU's struct cpu */
  uint32_t index;           /* in cpus[] */
  uint32_t apic_id;
  volatile uint32_t online; /* set by the CPU itself once it runs the kernel */
  vaddr_t stack_top;        /* the stack it idles on (the BSP: the boot stack) */
  volatile uint32_t ipis;   /* IPIs it has taken (kernel/ipi.h): the senders' ack */
  void (*volatile call)(void); /* what its next IPI_CALL runs (kernel/ipi.h) */
  volatile uint32_t parked; /* stopped for good by another CPU's panic */
  vaddr_t parked_at;        /* where the panic's NMI interrupted it */
  volatile uint32_t ticks;  /* its LAPIC timer's ticks (arch/i386/lapic_timer.h) */
  volatile uint32_t tlb_pending; /* bit s: sender s has a request in tlb[s]; TLB_PENDING_PCP_DRAIN:
                                    another CPU asks for its frame cache (kernel/tlb.h) */
  volatile uint32_t calls;  /* IPI_CALL functions it has run: their senders' ack */
  struct tss tss;           /* ring-3 traps land on tss.esp0 */
  struct tss df_tss;        /* the double-fault task (kernel/trap.c) */
  struct gdt_entry gdt[GDT_ENTRIES] __attribute__((aligned(8)));
  struct pcp frames;        /* its frame cache (mm/pcp.h) */
  struct held_locks locks;  /* what it holds, with lockdebug=on (kernel/lockdep.h) */
  struct tlb_mailbox tlb[CPU_MAX]; /* shootdown requests to it, one per sender (kernel/tlb.h) */
  struct tlb_stats tlb_stats;      /* its shootdowns, sent and served */
};

/* An AP's idle stack: CPU_STACK_PAGES mapped in the kernel half at
 * cpu_stack_guard(i) + PAGE_SIZE, the guard page below them never mapped,
 * so an overflow faults (and becomes a double fault, on the CPU's own
 * double-fault task) instead of running into the next CPU's stack.  The
 * BSP keeps the boot stack, which has its own guard. */
#define CPU_STACK_PAGES 2
#define CPU_STACK_SLOT ((CPU_STACK_PAGES + 1) * PAGE_SIZE)
static inline vaddr_t cpu_stack_guard(uint32_t cpu) {
  return CPU_STACK_AREA_BASE + cpu * CPU_STACK_SLOT;
}

extern struct cpu cpus[CPU_MAX];
/* Bit i: cpus[i] is online.  cpus[0], the BSP, is online from the start
 * (a static initializer: gdt_init, the first thing trap_init does, needs it). */
extern volatile uint32_t cpu_online_mask;

static inline struct cpu *this_cpu(void) {
  struct cpu *c;
  __asm__("mov %%gs:0, %0" : "=r"(c));
  return c;
}

/* Whether `cpu` is an index of an online CPU (false past CPU_MAX). */
static inline bool cpu_is_online(uint32_t cpu) {
  return cpu < CPU_MAX && (cpu_online_mask & (1u << cpu));
}

/* Whether `cpu` is online and not this CPU: one this CPU can send an IPI or
 * a request and wait for. */
static inline bool cpu_is_other_online(uint32_t cpu) {
  return cpu_is_online(cpu) && &cpus[cpu] != this_cpu();
}

/* Starts every AP the firmware's tables list and records what happened.
 * After the CPU protections (an AP copies the BSP's CR4) and the timer (the
 * local APIC is mapped there). */
void smp_init(void);
