/* kmain: the init order, then kernel_ready, then idle. */
#include "arch/i386/cpu.h"
#include "dev/balloon.h"
#include "dev/blk.h"
#include "dev/pci.h"
#include "fs/bcache.h"
#include "fs/fs.h"
#include "kernel/bootinfo.h"
#include "kernel/cmdline.h"
#include "kernel/cpufeatures.h"
#include "kernel/kprintf.h"
#include "kernel/lockdep.h"
#include "kernel/modules.h"
#include "kernel/proc.h"
#include "kernel/timer.h"
#include "lib/string.h"
#include "mm/aslr.h"
#include "kernel/panic.h"
#include "kernel/serial.h"
#include "kernel/shell.h"
#include "kernel/smp.h"
#include "kernel/tlb.h"
#include "kernel/smp_tables.h"
#include "kernel/trap.h"
#include "mm/fault.h"
#include "mm/frame.h"
#include "mm/heap.h"
#include "mm/pcp.h"
#include "mm/numa.h"
#include "mm/pmm.h"
#include "mm/swap.h"
#include "mm/vmm.h"

#define MMVERIFY_VERSION "0.1"

/* The harness stops here: everything is initialised, interrupts are off, and
 * GDB inferior calls are safe.  Out of line so the breakpoint always fires. */
HARNESS_VISIBLE void kernel_ready(void) { __asm__ volatile("" ::: "memory"); }

/* The harness's "scenario finished" breakpoint: every process started by
 * `run=` has ended (or blocked for good). */
HARNESS_VISIBLE void scenario_done(uint32_t finished) { __asm__ volatile("" : : "r"(finished)); }

/* A comma-separated list of non-empty names. */
static bool is_name_list(const char *list) {
  char prev = ',';
  for (; *list; prev = *list++)
    if (*list == ',' && prev == ',') return false;
  return prev != ',';
}

/* `run=a,b,c`, checked: the list, or NULL (a list with an empty name is
 * refused whole, before anything runs). */
static const char *run_list(void) {
  const char *list = cmdline_get("run");
  if (!list || is_name_list(list)) return list;
  cmdline_report_bad("run", list, "module[,module...]");
  return NULL;
}

/* Spawn the `run=` modules (with their own command lines) and run them to
 * the end. */
static void run_from_cmdline(const char *list) {
  if (!list) return;
  char names[BOOT_CMDLINE_MAX];
  strlcpy(names, list, sizeof(names));
  for (char *name = names, *next; name; name = next) {
    next = strchr(name, ',');
    if (next) *next++ = '\0';
    int pid = proc_spawn(name, "", 0);
    if (pid < 0) krecord("RUN name=%pq error=%d\n", name, pid);
  }
  scenario_done(sched_run());
}

/* Parked, interrupts off, spinning rather than halting: a CPU halted with
 * interrupts off would never run an inferior call GDB sets up. */
static void __attribute__((noreturn)) idle(void) {
  for (;;) {
    balloon_poll(); /* a safe point: the host may change the balloon's target */
    pcp_idle();     /* the frames it caches are better used by the other CPUs */
    tlb_poll();     /* interrupts are off: another CPU's requests come only this way */
    cpu_relax();
  }
}

void __attribute__((noreturn)) kmain(uint32_t magic, paddr_t mbi_phys);
void kmain(uint32_t magic, paddr_t mbi_phys) {
  serial_init();
  krecord("BOOT kernel=mmverify version=%s\n", MMVERIFY_VERSION);
  bootinfo_init(magic, mbi_phys);
  cmdline_init(boot_info.cmdline);
  lockdep_init(); /* before any lock is taken */
  krecord("CMDLINE raw=%pq\n", boot_info.cmdline);
  spin_limit_init(); /* after the raw line: a bad value's record follows it */
  trap_init();
  cpu_features_init();
  fault_init();
  memory_init();
  vmm_init();
  frame_table_init();
  pmm_buddy_init(); /* after the frame table: zones come from frame_table[].node */
  numa_init(); /* after the buddy maps: pmm_set_nodes re-partitions them by node */
  smp_tables_init(); /* the CPUs the MADT (or the MP table) lists */
  heap_init();
  vmm_pools_init(); /* the page-table pool's reserve, from the heap and the PMM */
  modules_init();
  timer_init();
  aslr_init();
  __stack_chk_guard = aslr_random() | 0xFF; /* never 0-terminated text */
  cpu_protections_init();
  tlb_init();
  smp_init(); /* after the protections and the timer: APs copy CR4 and use the LAPIC */
  pci_init();
  blk_init();
  bcache_init();
  fs_init(); /* after the disks and the buffer cache */
  swap_init(); /* after the disks: swap= names one */
  balloon_init(); /* after pci_init and swap_init: inflating may reclaim */

  /* The options read after kernel_ready are read now, so every option has
   * been asked for when the unknown ones are reported. */
  const char *run = run_list();
  bool shell = cmdline_bool("shell", false), off = cmdline_bool("poweroff", false);
  cmdline_report_unknown();

  krecord("READY\n");
  kernel_ready();
  run_from_cmdline(run);
  if (shell) shell_run(); /* never returns: it wins over poweroff */
  if (off) poweroff(0);
  idle();
}
