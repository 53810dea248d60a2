/* kmain: the init order, then kernel_ready, then idle. */
#include "arch/i386/cpu.h"
#include "kernel/bootinfo.h"
#include "kernel/cmdline.h"
#include "kernel/cpufeatures.h"
#include "kernel/kprintf.h"
#include "kernel/panic.h"
#include "kernel/serial.h"
#include "kernel/trap.h"
#include "mm/fault.h"
#include "mm/heap.h"
#include "mm/pmm.h"
#include "mm/vmm.h"

#define MMVERIFY_VERSION "0.1"

/* The harness stops here: everything is initialised, interrupts are off, and
 * GDB inferior calls are safe.  Out of line so the breakpoint always fires. */
HARNESS_VISIBLE void kernel_ready(void) { __asm__ volatile("" ::: "memory"); }

/* Parked, interrupts off, spinning rather than halting: a CPU halted with
 * interrupts off would never run an inferior call GDB sets up. */
static void __attribute__((noreturn)) idle(void) {
  for (;;) cpu_relax();
}

void __attribute__((noreturn)) kmain(uint32_t magic, paddr_t mbi_phys);
void kmain(uint32_t magic, paddr_t mbi_phys) {
  serial_init();
  kprintf("BOOT kernel=mmverify version=%s\n", MMVERIFY_VERSION);
  bootinfo_init(magic, mbi_phys);
  cmdline_init(boot_info.cmdline);
  kprintf("CMDLINE raw=\"%s\"\n", boot_info.cmdline);
  trap_init();
  cpu_features_init();
  fault_init();
  memory_init();
  vmm_init();
  heap_init();

  kprintf("READY\n");
  kernel_ready();
  if (cmdline_bool("poweroff", false)) poweroff(0);
  idle();
}
