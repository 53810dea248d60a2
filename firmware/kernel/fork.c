/* fork (include/kernel/fork.h): the process copy; the page-table copy is
 * vmm_fork_prepare / vmm_fork_range (mm/vmm.c). */
#include "kernel/fork.h"
#include "arch/i386/trapframe.h"
#include "kernel/errno.h"
#include "kernel/kprintf.h"
#include "kernel/mman.h"
#include "kernel/proc.h"
#include "memlayout.h"
#include "mm/shm.h"
#include "mm/uvm.h"
#include "mm/vmm.h"

struct range {
  vaddr_t start, end;
};

/* The ranges of p that stay shared writable across fork: the shared-memory
 * area and every MAP_SHARED region, in address order.  Returns how many. */
static uint32_t shared_ranges(const struct process *p, struct range *out) {
  uint32_t n = 0;
  bool shm_placed = false;
  struct range shm = {p->shm_base, p->shm_base + USER_SHM_SPAN};
  for (uint32_t i = 0; i < p->region_count; i++) {
    const struct vm_region *r = &p->regions[i];
    if (!(r->flags & MAP_SHARED)) continue;
    if (!shm_placed && shm.start < r->start) {
      out[n++] = shm;
      shm_placed = true;
    }
    out[n++] = (struct range){r->start, r->end};
  }
  if (!shm_placed) out[n++] = shm;
  return n;
}

/* Copies the whole user half of parent into child: private between the
 * shared ranges, shared within them. */
static void copy_user_half(const struct process *parent, struct process *child,
                           struct vmm_fork_counts *counts) {
  struct range shared[PROC_REGIONS_MAX + 1];
  uint32_t n = shared_ranges(parent, shared);
  vaddr_t at = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (at < shared[i].start) vmm_fork_range(parent->dir, child->dir, at, shared[i].start, false,
                                             counts);
    vmm_fork_range(parent->dir, child->dir, shared[i].start, shared[i].end, true, counts);
    at = shared[i].end;
  }
  vmm_fork_range(parent->dir, child->dir, at, USER_TOP, false, counts);
}

int proc_fork(const struct trapframe *tf) {
  struct process *parent = current, *child;
  int rc = proc_new(parent->name, parent->pid, &child);
  if (rc) return rc;
  page_directory_t *dir = create_page_directory();
  if (!dir) {
    proc_discard(child);
    return -ENOMEM;
  }
  child->dir = dir;
  if (vmm_fork_prepare(parent->dir, dir) != 0) {
    proc_discard(child); /* destroys dir and the tables it got */
    return -ENOMEM;
  }
  /* Nothing fails from here on. */
  vaddr_t kstack_base = child->kstack_base, kstack_top = child->kstack_top;
  *child = *parent;
  child->dir = dir;
  child->cr3 = directory_phys(dir);
  child->kstack_base = kstack_base;
  child->kstack_top = kstack_top;
  child->parent = parent->pid;
  child->waiting_for = 0;
  child->wait_result = 0;
  child->demand_faults = 0;
  child->cow_faults = 0;
  child->kill_pending = 0;
  struct vmm_fork_counts counts = {0};
  copy_user_half(parent, child, &counts);
  /* One CR3 reload drops every stale writable translation of the parent
   * (kernel pages are global and stay); cheaper than an invlpg per page
   * once more than a few pages changed. */
  if (counts.write_protected) switch_page_directory(parent->dir);
  shm_inherit(child);
  struct trapframe child_tf = *tf;
  child_tf.eax = 0; /* fork() returns 0 in the child */
  proc_set_first_frame(child, &child_tf);
  proc_start(child);
  krecord("FORK parent=%u child=%u pages=%u shared=%u cow=%u\n", parent->pid, child->pid,
          counts.pages, counts.shared, counts.cow);
  return (int)child->pid;
}
