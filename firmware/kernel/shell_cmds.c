/* The shell's commands.  Each one reads a subsystem's own records (pmm_stats,
 * the page tables, heap_stats, fault_log, proc_table) and prints them: a
 * readable table, then where useful one record a test can compare with the
 * same struct read through GDB. */
#include "arch/i386/cpu.h"
#include "arch/i386/paging.h"
#include "kernel/cmdline.h"
#include "kernel/errno.h"
#include "kernel/kprintf.h"
#include "kernel/proc.h"
#include "kernel/shell_internal.h"
#include "kernel/timer.h"
#include "lib/string.h"
#include "mm/fault.h"
#include "mm/heap.h"
#include "mm/pmm.h"
#include "mm/vmm.h"

#define KIB 1024u
#define FRAME_KIB (FRAME_SIZE / KIB)
#define MAP_RIGHTS (PAGE_PRESENT | PAGE_USER | PAGE_WRITE)
#define ADDRESS_SPACE_END (1ull << 32)
#define ERR_BITS_TEXT 16 /* "P|W|U|RSVD|I/D" and the NUL */

static const char *const state_names[] = {"free", "ready", "running", "blocked", "zombie"};

/* A process that has an address space: spawned and not yet reaped. */
static struct process *live_process(uint32_t pid) {
  for (uint32_t i = 0; i < PROC_MAX; i++) {
    struct process *p = &proc_table[i];
    if (p->pid == pid && p->state != PROC_FREE && p->state != PROC_ZOMBIE) return p;
  }
  return NULL;
}

/* -- meminfo, heap, leaks, mark -------------------------------------------- */

/* KiB, then MiB with one decimal: enough to recognise a size at a glance. */
static void print_frames(const char *what, uint32_t frames) {
  uint32_t kib = frames * FRAME_KIB;
  kprintf("  %-10s %9u KiB %6u.%u MiB %8u frames\n", what, kib, kib / KIB, kib % KIB * 10 / KIB,
          frames);
}

static void print_heap_summary(void) {
  heap_update_stats(); /* the walked figures (requested, in use, live) are stale otherwise */
  const struct heap_stats *h = &heap_stats;
  kprintf("kernel heap\n");
  kprintf("  %-14s %10u bytes\n", "requested", h->bytes_requested);
  kprintf("  %-14s %10u bytes\n", "in use", h->bytes_in_use);
  kprintf("  %-14s %10u bytes\n", "mapped", h->bytes_mapped);
  kprintf("  %-14s %10u bytes\n", "peak mapped", h->peak_mapped);
  kprintf("  %-14s %10u bytes\n", "largest free", h->largest_free);
  kprintf("  %-14s %10u\n", "live blocks", h->live_blocks);
  kprintf("  %-14s %10u\n", "quarantined", h->quarantined);
}

int shell_cmd_meminfo(const struct shell_args *a) {
  (void)a;
  const struct pmm_stats *s = &pmm_stats;
  kprintf("physical memory\n");
  print_frames("total", s->usable_frames);
  print_frames("free", s->free_frames);
  print_frames("reserved", s->reserved_frames);
  print_heap_summary();
  krecord("MEMINFO total_kib=%u free_kib=%u reserved_kib=%u frames=%u free_frames=%u "
          "reserved_frames=%u\n",
          s->usable_frames * FRAME_KIB, s->free_frames * FRAME_KIB,
          s->reserved_frames * FRAME_KIB, s->usable_frames, s->free_frames, s->reserved_frames);
  return SHELL_OK;
}

int shell_cmd_heap(const struct shell_args *a) {
  (void)a;
  print_heap_summary();
  const struct heap_stats *h = &heap_stats;
  kprintf("  %-14s %10u\n", "failed allocs", h->failed_allocations);
  kprintf("size classes\n  %5s %6s %6s %6s\n", "class", "size", "live", "slabs");
  for (uint32_t i = 0; i < HEAP_CLASS_COUNT; i++)
    kprintf("  %5u %6u %6u %6u\n", i, h->class_size[i], h->class_live[i], h->class_slabs[i]);
  kprintf("errors\n");
  uint32_t errors = 0;
  for (uint32_t k = 0; k < HEAP_ERR_COUNT; k++) {
    kprintf("  %-18s %6u\n", heap_error_name((enum heap_error)k), h->errors[k]);
    errors += h->errors[k];
  }
  krecord("HEAPSTAT requested=%u in_use=%u mapped=%u peak=%u largest_free=%u live=%u "
          "quarantined=%u failed=%u errors=%u\n",
          h->bytes_requested, h->bytes_in_use, h->bytes_mapped, h->peak_mapped,
          h->largest_free, h->live_blocks, h->quarantined, h->failed_allocations, errors);
  return SHELL_OK;
}

int shell_cmd_leaks(const struct shell_args *a) {
  uint32_t mark = 0; /* epochs start at 1: mark 0 lists every live block */
  if (a->argc > 1 && !parse_uint(a->argv[1], &mark)) return SHELL_USAGE;
  kprintf("live heap blocks allocated since mark %u, with their callers:\n", mark);
  heap_leak_report(mark); /* the LEAK records, then LEAKS */
  return SHELL_OK;
}

int shell_cmd_mark(const struct shell_args *a) {
  (void)a;
  uint32_t mark = heap_mark();
  krecord("MARK mark=%u\n", mark);
  kprintf("blocks allocated from now on: leaks %u\n", mark);
  return SHELL_OK;
}

/* -- map ---------------------------------------------------------------------- */

/* The region map merges consecutive pages with the same effective rights
 * (present, user, write: the PDE's AND the PTE's; execute: PAE with NX) as
 * QEMU's `info mem` does (which has no execute column: merge our regions
 * whatever their x to compare), each line ending in urwx letters or '-'. */
struct region_walk {
  uint64_t start;  /* of the open region */
  uint32_t rights; /* of the open region; 0: no region open */
  uint32_t regions;
  uint64_t mapped; /* bytes in the regions printed */
};

/* 8 hex digits like info mem; 4 GiB, the end of a region that reaches the
 * top of the address space, needs a ninth. */
static void print_hex33(uint64_t v) {
  if (v >> 32) kprintf("%x%08x", (uint32_t)(v >> 32), (uint32_t)v);
  else kprintf("%08x", (uint32_t)v);
}

static void region_step(struct region_walk *w, uint64_t va, uint32_t rights) {
  if (rights == w->rights) return;
  if (w->rights) {
    print_hex33(w->start);
    kprintf("-");
    print_hex33(va);
    kprintf(" ");
    print_hex33(va - w->start);
    kprintf(" %c%c%c%c\n", w->rights & PAGE_USER ? 'u' : '-', 'r',
            w->rights & PAGE_WRITE ? 'w' : '-', w->rights & PAGE_EXEC ? 'x' : '-');
    w->regions++;
    w->mapped += va - w->start;
  }
  w->start = va;
  w->rights = rights;
}

/* Effective rights of a PAE leaf under its directory entry: U and W only
 * where both allow, X unless either is NX (with NX on). */
static uint32_t pae_rights(pae_entry_t pde, pae_entry_t leaf) {
  uint32_t rights = (uint32_t)(pde & leaf) & MAP_RIGHTS;
  if (!nx_enabled || !((pde | leaf) & PAE_NX)) rights |= PAGE_EXEC;
  return rights;
}

static void walk_pae(const page_directory_t *dir, struct region_walk *w) {
  const pae_entry_t *pdpt = (const pae_entry_t *)dir;
  for (uint32_t i = 0; i < PAE_PDPT_ENTRIES; i++) {
    uint64_t base = (uint64_t)i << PAE_PDPT_SHIFT;
    if (!(pdpt[i] & PAGE_PRESENT)) {
      region_step(w, base, 0);
      continue;
    }
    pae_entry_t *pd = kmap((paddr_t)(pdpt[i] & PAE_FRAME_MASK));
    for (uint32_t j = 0; j < PAE_ENTRIES; j++) {
      pae_entry_t pde = pd[j];
      uint64_t at = base + ((uint64_t)j << PAE_PD_SHIFT);
      if (!(pde & PAGE_PRESENT) || (pde & PAGE_PS)) { /* PAE honours PS always */
        region_step(w, at, (pde & PAGE_PRESENT) ? pae_rights(pde, pde) : 0);
        continue;
      }
      pae_entry_t *table = kmap((paddr_t)(pde & PAE_FRAME_MASK));
      for (uint32_t k = 0; k < PAE_ENTRIES; k++)
        region_step(w, at + ((uint64_t)k << PAGE_SHIFT),
                    (table[k] & PAGE_PRESENT) ? pae_rights(pde, table[k]) : 0);
      kunmap(table);
    }
    kunmap(pd);
  }
  region_step(w, ADDRESS_SPACE_END, 0);
}

/* Legacy paging: every present page is executable. */
static void walk_directory(const page_directory_t *dir, struct region_walk *w) {
  if (vmm_mode == VMM_PAE) {
    walk_pae(dir, w);
    return;
  }
  bool pse = read_cr4() & CR4_PSE; /* without it the CPU, and QEMU, ignore PS */
  for (uint32_t i = 0; i < ENTRIES_PER_TABLE; i++) {
    pde_t pde = dir->entries[i];
    uint64_t base = (uint64_t)i << PDX_SHIFT;
    if (!(pde & PAGE_PRESENT)) {
      region_step(w, base, 0);
      continue;
    }
    if ((pde & PAGE_PS) && pse) {
      region_step(w, base, (pde & MAP_RIGHTS) | PAGE_EXEC);
      continue;
    }
    pte_t *table = kmap(PTE_ADDR(pde)); /* a process's tables need not be direct-mapped */
    for (uint32_t j = 0; j < ENTRIES_PER_TABLE; j++) {
      pte_t pte = table[j];
      region_step(w, base + ((uint64_t)j << PAGE_SHIFT),
                  (pte & PAGE_PRESENT) ? (pte & pde & MAP_RIGHTS) | PAGE_EXEC : 0);
    }
    kunmap(table);
  }
  region_step(w, ADDRESS_SPACE_END, 0);
}

int shell_cmd_map(const struct shell_args *a) {
  const page_directory_t *dir = &kernel_page_directory;
  uint32_t pid = 0;
  if (a->argc > 1 && !parse_uint(a->argv[1], &pid)) return SHELL_USAGE;
  if (pid) {
    const struct process *p = live_process(pid);
    if (!p) {
      kprintf("map: no process %u (ps lists them)\n", pid);
      return SHELL_OK;
    }
    dir = p->mm.dir;
  }
  kprintf("address space of %s %u, cr3=%p\n", pid ? "pid" : "the kernel, pid", pid,
          (void *)directory_phys(dir));
  kprintf("%-8s %-8s %-8s %s\n", "start", "end", "size", "rights");
  struct region_walk w = {0};
  walk_directory(dir, &w);
  krecord("MAP pid=%u cr3=%p regions=%u mapped_kib=%u\n", pid, (void *)directory_phys(dir),
          w.regions, (uint32_t)(w.mapped / KIB));
  return SHELL_OK;
}

/* -- faults ------------------------------------------------------------------- */

/* The error code's bits by the SDM's names, e.g. "P|W|U", or "-". */
static const char *err_bits(uint32_t err, char *buf, size_t size) {
  static const struct {
    uint32_t bit;
    const char *name;
  } bits[] = {{PF_ERR_PRESENT, "P"}, {PF_ERR_WRITE, "W"}, {PF_ERR_USER, "U"},
              {PF_ERR_RSVD, "RSVD"}, {PF_ERR_FETCH, "I/D"}};
  size_t len = 0;
  buf[0] = '\0';
  for (uint32_t i = 0; i < ARRAY_SIZE(bits); i++)
    if (err & bits[i].bit)
      len += (size_t)ksnprintf(buf + len, size - len, "%s%s", len ? "|" : "", bits[i].name);
  return len ? buf : "-";
}

int shell_cmd_faults(const struct shell_args *a) {
  (void)a;
  const struct fault_stats *s = &fault_stats;
  /* Entry seq % FAULT_LOG_SIZE holds fault number seq; only the last
   * FAULT_LOG_SIZE faults are still there. */
  uint32_t first = s->total > FAULT_LOG_SIZE ? s->total - FAULT_LOG_SIZE : 0, shown = 0;
  kprintf("  %4s  %-10s  %-4s  %-14s  %-10s  %3s  %-12s  %-8s  %s\n", "seq", "address", "err",
          "bits", "eip", "pid", "kind", "action", "reason");
  for (uint32_t seq = first; seq < s->total; seq++) {
    const struct fault_record *f = &fault_log[seq % FAULT_LOG_SIZE];
    if (f->seq != seq) continue;
    char bits[ERR_BITS_TEXT];
    kprintf("  %4u  %p  0x%02x  %-14s  %p  %3u  %-12s  %-8s  %s\n", seq, (void *)f->addr,
            f->err, err_bits(f->err, bits, sizeof(bits)), (void *)f->eip, f->pid,
            fault_kind_name((enum fault_kind)f->kind),
            fault_action_name((enum fault_action)f->action),
            fault_reason_name((enum fault_reason)f->reason));
    shown++;
  }
  krecord("FAULTS total=%u shown=%u user=%u kernel=%u resolved=%u fixup=%u kill=%u panic=%u\n",
          s->total, shown, s->user, s->kernel, s->by_action[FAULT_RESOLVED],
          s->by_action[FAULT_FIXUP], s->by_action[FAULT_KILL], s->by_action[FAULT_PANIC]);
  return SHELL_OK;
}

/* -- ps, run ------------------------------------------------------------------- */

int shell_cmd_ps(const struct shell_args *a) {
  (void)a;
  uint32_t count = 0;
  kprintf("  %3s  %-7s  %-15s  %-10s  %-22s  %-10s  %5s  %6s\n", "pid", "state", "name", "cr3",
          "heap base..brk", "stack top", "pages", "faults");
  for (uint32_t i = 0; i < PROC_MAX; i++) {
    const struct process *p = &proc_table[i];
    if (p->state == PROC_FREE) continue;
    kprintf("  %3u  %-7s  %-15s  %p  %p..%p  %p  %5u  %6u\n", p->pid,
            p->state < ARRAY_SIZE(state_names) ? state_names[p->state] : "?", p->name,
            (void *)p->mm.cr3, (void *)p->mm.heap_base, (void *)p->mm.brk, (void *)p->mm.stack_top,
            p->mm.pages, p->mm.demand_faults);
    count++;
  }
  krecord("PS processes=%u\n", count);
  return SHELL_OK;
}

static const char *spawn_error(int err) {
  switch (-err) {
  case ENOENT: return "no such module (-ENOENT)";
  case EINVAL: return "not a valid program (-EINVAL)";
  case EAGAIN: return "the process table is full (-EAGAIN)";
  case ENOMEM: return "out of memory (-ENOMEM)";
  default: return "spawn failed";
  }
}

static void report_finished(const struct proc_record *r) {
  if (r->killed && strcmp(r->reason, PROC_REASON_INTERRUPTED) == 0)
    kprintf("run: pid %u (%s) was stopped by Ctrl-C at eip %p\n", r->pid, r->name,
            (void *)r->eip);
  else if (r->killed)
    kprintf("run: pid %u (%s) was killed: %s at %p, eip %p, err 0x%x\n", r->pid, r->name,
            r->reason, (void *)r->addr, (void *)r->eip, r->err);
  else
    kprintf("run: pid %u (%s) exited with status %d\n", r->pid, r->name, r->status);
}

/* Runs every ready process, not only the one started, and reports each one
 * as it ends; Ctrl-C (seen from the timer, so also while a process never
 * yields) stops them all. */
int shell_cmd_run(const struct shell_args *a) {
  const char *name = a->argv[1];
  int pid = proc_spawn(name, a->argc > 2 ? a->rest[2] : "", 0);
  if (pid < 0) {
    krecord("RUN name=%pq error=%d\n", name, pid);
    kprintf("run: cannot start '%s': %s\n", name, spawn_error(pid));
    return SHELL_OK;
  }
  timer_watch(shell_watch_input);
  uint32_t finished = sched_run_reporting(report_finished);
  timer_unwatch();
  if (shell_take_ctrl_c()) kprintf("run: interrupted (Ctrl-C)\n");
  const struct process *p = live_process((uint32_t)pid);
  if (p) /* blocked for good: nothing else can run */
    kprintf("run: pid %d (%s) has not finished: it is %s\n", pid, name, state_names[p->state]);
  kprintf("run: %u process%s finished\n", finished, finished == 1 ? "" : "es");
  return SHELL_OK;
}
