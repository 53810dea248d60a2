/* Per-CPU data and AP bring-up: see kernel/smp.h.
 *
 * The APs start one at a time, so one parameter block and one set of boot
 * tables serve them all: INIT, then SIPI to the trampoline page, then a wait
 * for the AP's online flag; a second SIPI if it has not come; else it is
 * recorded as not started and sent INIT again (back to waiting for a SIPI,
 * so it cannot wake later into a parameter block meant for another CPU).
 *
 * The wait is measured on the CMOS clock, never the TSC or the PIT: under
 * QEMU's -icount, virtual time jumps tens of milliseconds across an INIT,
 * so a TSC timeout would give up on an AP that does start.  The flag is
 * checked first, and the loop executes `pause`: with every vCPU on one TCG
 * thread, that is what hands the thread to the starting AP. */
#include "kernel/smp.h"
#include "arch/i386/ap_trampoline.h"
#include "arch/i386/cpu.h"
#include "arch/i386/idt.h"
#include "arch/i386/lapic.h"
#include "arch/i386/lapic_timer.h"
#include "arch/i386/multiboot.h"
#include "dev/rtc.h"
#include "kernel/bootinfo.h"
#include "kernel/cmdline.h"
#include "kernel/kprintf.h"
#include "kernel/lockdep.h"
#include "kernel/trap.h"
#include "lib/string.h"
#include "memlayout.h"
#include "mm/pcp.h"
#include "mm/pmm.h"
#include "mm/vmm.h"

/* One wait, in CMOS seconds (its finest step without its interrupt): the
 * first ends at the next second boundary, the second after a whole second. */
#define START_WAIT_SECONDS 1

struct cpu cpus[CPU_MAX] = {
    [0] = {.self = &cpus[0], .index = 0, .online = 1, .stack_top = (vaddr_t)boot_stack_top},
};
volatile uint32_t cpu_online_mask = 1;

/* The parameter block at the end of the trampoline (ap_trampoline.h). */
struct ap_params {
  uint32_t cr0, cr3, cr4, efer_nxe, entry, stack_top, cpu;
  uint32_t claim;
};
_Static_assert(__builtin_offsetof(struct ap_params, cr0) == AP_PARAM_CR0, "ap_params layout");
_Static_assert(__builtin_offsetof(struct ap_params, cr3) == AP_PARAM_CR3, "ap_params layout");
_Static_assert(__builtin_offsetof(struct ap_params, cr4) == AP_PARAM_CR4, "ap_params layout");
_Static_assert(__builtin_offsetof(struct ap_params, efer_nxe) == AP_PARAM_EFER_NXE,
               "ap_params layout");
_Static_assert(__builtin_offsetof(struct ap_params, entry) == AP_PARAM_ENTRY, "ap_params layout");
_Static_assert(__builtin_offsetof(struct ap_params, stack_top) == AP_PARAM_STACK,
               "ap_params layout");
_Static_assert(__builtin_offsetof(struct ap_params, cpu) == AP_PARAM_CPU, "ap_params layout");
_Static_assert(__builtin_offsetof(struct ap_params, claim) == AP_PARAM_CLAIM,
               "ap_params layout");
_Static_assert(sizeof(struct ap_params) == AP_PARAMS_SIZE, "ap_params layout");

extern const char ap_trampoline_start[], ap_trampoline_end[], ap_params[];

/* An AP's life once it is online: nothing to do yet, so it sleeps with
 * interrupts on (hlt costs no instructions under -icount, and an interrupt
 * meant for it will wake it). */
static void __attribute__((noreturn, noinline)) ap_idle(void) {
  for (;;) {
    pcp_idle(); /* an idle CPU's cached frames are better used by the others */
    __asm__ volatile("sti; hlt; cli" ::: "memory");
    /* Before the next sti: an IPI's work must not have left a lock held.
     * (After the hlt, not before: tests find the hlt near ap_idle's start.) */
    lockdep_assert_none_held("ap_idle");
  }
}

/* Where the trampoline jumps, on the boot tables and the AP's own stack. */
static void __attribute__((noreturn, used)) ap_main(struct cpu *c) {
  write_cr3(directory_phys(&kernel_page_directory)); /* the identity page goes */
  gdt_load(c);
  idt_load();
  lapic_enable();
  lapic_timer_start_ap();
  c->online = 1; /* last: the BSP reads everything above as done */
  ap_idle();
}

/* Waits for c to come online: true if it did within the wait. */
static bool wait_online(struct cpu *c) {
  uint32_t start = rtc_seconds();
  for (;;) {
    if (c->online) return true;
    if (rtc_elapsed(start, START_WAIT_SECONDS)) return c->online;
    cpu_relax();
  }
}

/* cpus[cpu]'s idle stack (kernel/smp.h), mapped like a process's kernel
 * stack: its top, or 0.  The AP's first pushes are on the boot tables,
 * which copied the kernel's PDEs before these pages were mapped: that holds
 * because every kernel-half page table exists from vmm_init on, so a new
 * kernel mapping never changes a PDE.  No TLB shootdown is needed to give
 * the pages back either: only an AP that never ran returns its stack. */
static vaddr_t stack_map(uint32_t cpu) {
  vaddr_t base = cpu_stack_guard(cpu) + PAGE_SIZE, top = base + CPU_STACK_PAGES * PAGE_SIZE;
  for (vaddr_t va = base; va < top; va += PAGE_SIZE) {
    paddr_t frame = alloc_kernel_frame();
    if (!frame || vmm_map(&kernel_page_directory, va, frame, PAGE_WRITE | PAGE_OWNED) != 0) {
      if (frame) free_page((void *)frame);
      for (vaddr_t done = base; done < va; done += PAGE_SIZE)
        vmm_unmap(&kernel_page_directory, done, NULL);
      return 0;
    }
  }
  return top;
}

static void stack_unmap(vaddr_t top) {
  if (!top) return;
  for (vaddr_t va = top - CPU_STACK_PAGES * PAGE_SIZE; va < top; va += PAGE_SIZE)
    vmm_unmap(&kernel_page_directory, va, NULL); /* PAGE_OWNED: the frames go back */
}

/* A double-fault stack: one direct-mapped frame (its top), or 0.  The
 * double-fault task is what runs when a stack overflows; its own stack
 * holds one frame of its own and never grows. */
static vaddr_t df_stack_alloc(void) {
  paddr_t pa = alloc_kernel_frame();
  return pa ? (vaddr_t)P2V(pa) + PAGE_SIZE : 0;
}

static void df_stack_free(vaddr_t top) {
  if (top) free_page((void *)V2P((void *)(top - PAGE_SIZE)));
}

/* An AP took the parameter block but never came online: it may still be on
 * its stacks and the boot tables, so those are never given back; and it may
 * still read the block, so no other AP is started after it (the block would
 * hand it the next AP's stack and struct cpu). */
static bool straggler;

/* The test switch smp_stray_sipi=on: CPU 1 gets its INIT but no SIPI, and
 * then a SIPI just after CPU 2's claim is written, as a late AP would run
 * the trampoline while the block waits for another: it must leave the claim
 * to CPU 2.  The wait after it (pauses, so the same under -icount) lets it
 * get there before CPU 2 is started. */
#define STRAY_WAIT_PAUSES (1u << 16)
static struct cpu *stray_sipi_to;

static void stray_sipi(struct cpu *late) {
  lapic_send(late->apic_id, ICR_STARTUP | ICR_ASSERT | AP_SIPI_VECTOR);
  for (uint32_t spin = 0; spin < STRAY_WAIT_PAUSES; spin++) cpu_relax();
}

/* INIT, SIPI, wait, SIPI, wait: whether c came online.  A CPU that did not
 * keeps nothing (its stacks go back) unless it claimed the parameter block
 * at the last moment: then it is running the trampoline, and gets one more
 * wait; if even that runs out, it is a straggler. */
static bool start_ap(struct cpu *c, struct ap_params *params, bool sipi) {
  vaddr_t stack = stack_map(c->index), df_stack = df_stack_alloc();
  if (!stack || !df_stack) {
    stack_unmap(stack);
    df_stack_free(df_stack);
    return false;
  }
  c->self = c;
  c->stack_top = stack;
  trap_init_double_fault(c, df_stack);
  params->stack_top = stack;
  params->cpu = (uint32_t)c;
  params->claim = c->apic_id + 1; /* only c may take it (ap_trampoline.S) */
  if (stray_sipi_to) {
    stray_sipi(stray_sipi_to);
    stray_sipi_to = 0;
  }
  lapic_send(c->apic_id, ICR_INIT | ICR_ASSERT);
  for (int attempt = 0; attempt < 2; attempt++) {
    if (sipi) lapic_send(c->apic_id, ICR_STARTUP | ICR_ASSERT | AP_SIPI_VECTOR);
    if (wait_online(c)) return true;
  }
  if (__atomic_exchange_n(&params->claim, 0, __ATOMIC_SEQ_CST) == 0) {
    if (wait_online(c)) return true; /* it took the block just now */
    straggler = true;
    return false;
  }
  lapic_send(c->apic_id, ICR_INIT | ICR_ASSERT); /* back to waiting for a SIPI */
  stack_unmap(stack);
  df_stack_free(df_stack);
  c->stack_top = 0;
  return false;
}

static void record_online(void) {
  uint32_t n = 0;
  for (uint32_t m = cpu_online_mask; m; m &= m - 1) n++;
  krecord("SMP online=%u mask=0x%x\n", n, cpu_online_mask);
}

/* The trampoline's page must be RAM the loader's memory map calls available
 * (QEMU's e820 has 0-0x9FBFF; the PMM keeps the whole first MiB for itself,
 * so nothing else is ever put there). */
static bool trampoline_page_is_ram(void) {
  for (uint32_t r = 0; r < boot_info.region_count; r++) {
    const struct boot_memory_region *region = &boot_info.regions[r];
    if (region->type == MULTIBOOT_MEMORY_AVAILABLE && region->start <= AP_TRAMPOLINE_PHYS &&
        region->end >= AP_TRAMPOLINE_PHYS + PAGE_SIZE)
      return true;
  }
  return false;
}

void smp_init(void) {
  bool sipi = cmdline_bool("smp_start", true);
  bool stray = cmdline_bool("smp_stray_sipi", false);
  /* Who this CPU is, by its own LAPIC's ID register when there is one: an
   * INIT sent to that ID would reset the BSP itself, whatever CPUID says. */
  cpus[0].apic_id = lapic_present ? lapic_id() : smp_tables.bsp_apic_id;
  if (smp_tables.count <= 1 || !lapic_present) {
    record_online();
    return;
  }

  if (!trampoline_page_is_ram()) {
    krecord("SMP error=trampoline page=0x%x\n", AP_TRAMPOLINE_PHYS);
    record_online();
    return;
  }
  struct vmm_boot_tables tables;
  void *page = kmap_window(AP_TRAMPOLINE_PHYS >> PAGE_SHIFT);
  if (vmm_boot_tables_build(AP_TRAMPOLINE_PHYS, &tables) != 0) {
    kunmap(page);
    krecord("SMP error=no-memory\n");
    record_online();
    return;
  }
  memcpy(page, ap_trampoline_start, (size_t)(ap_trampoline_end - ap_trampoline_start));
  struct ap_params *params =
      (struct ap_params *)((char *)page + (ap_params - ap_trampoline_start));
  *params = (struct ap_params){
      .cr0 = read_cr0(),
      .cr3 = tables.cr3,
      .cr4 = read_cr4(),
      .efer_nxe = nx_enabled,
      .entry = (uint32_t)ap_main,
  };

  /* cpus[1..] in table order, the BSP passed over; one that does not start
   * keeps its slot, offline. */
  uint32_t next = 1;
  for (uint32_t t = 0; t < smp_tables.count; t++) {
    if (smp_tables.apic_id[t] == cpus[0].apic_id) continue;
    /* The tables kept the BSP by CPUID's APIC ID; when the LAPIC's own ID
     * register says otherwise and the table does not list it, nothing above
     * was passed over and a full table has one entry too many. */
    if (next == CPU_MAX) {
      krecord("SMP error=no-slot apic=%u\n", smp_tables.apic_id[t]);
      continue;
    }
    struct cpu *c = &cpus[next];
    c->index = next++;
    c->apic_id = smp_tables.apic_id[t];
    bool online = !straggler && start_ap(c, params, sipi && !(stray && c->index == 1));
    if (stray && c->index == 1) stray_sipi_to = c;
    krecord("SMP cpu=%u apic=%u state=%s\n", c->index, c->apic_id,
            online ? "online" : "no-start");
    if (online) cpu_online_mask |= 1u << c->index;
  }
  if (!straggler) vmm_boot_tables_free(&tables); /* every AP is on the kernel's CR3 */
  kunmap(page);
  record_online();
}
