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
#include "kernel/file.h"
#include "mm/uvm.h"
#include "mm/vmm.h"

/* One area of a process's user half, and whether fork shares it writable. */
struct area {
  vaddr_t start, end;
  bool shared;
};

#define AREAS_MAX (3 + PROC_SHM_MAX + PROC_REGIONS_MAX)

/* Every area of mm that can hold user pages: the image, the heap, the stack,
 * each shared-memory attachment (shared) and each mmap region (shared when
 * MAP_SHARED).  Nothing is mapped in a user half outside them.  Returns how
 * many. */
static uint32_t user_areas(const struct mm *mm, struct area *out) {
  uint32_t n = 0;
  out[n++] = (struct area){0, mm->image_end, false};
  out[n++] = (struct area){mm->heap_base, mm->brk, false};
  out[n++] = (struct area){mm->stack_limit, mm->stack_top, false};
  for (uint32_t i = 0; i < PROC_SHM_MAX; i++)
    if (mm->shm[i].id >= 0)
      out[n++] = (struct area){mm->shm[i].va, mm->shm[i].va + mm->shm[i].pages * PAGE_SIZE, true};
  for (uint32_t i = 0; i < mm->region_count; i++)
    out[n++] = (struct area){mm->regions[i].start, mm->regions[i].end,
                             (mm->regions[i].flags & MAP_SHARED) != 0};
  return n;
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
  child->mm.dir = dir;
  struct area areas[AREAS_MAX];
  uint32_t n = user_areas(&parent->mm, areas);
  for (uint32_t i = 0; i < n; i++)
    if (vmm_fork_prepare(parent->mm.dir, dir, areas[i].start, areas[i].end) != 0) {
      proc_discard(child); /* destroys dir and the tables it got */
      return -ENOMEM;
    }
  /* Nothing fails from here on. */
  vaddr_t kstack_base = child->kstack_base, kstack_top = child->kstack_top;
  *child = *parent;
  child->mm.dir = dir;
  child->mm.cr3 = directory_phys(dir);
  child->kstack_base = kstack_base;
  child->kstack_top = kstack_top;
  child->parent = parent->pid;
  child->waiting_for = 0;
  child->wait_result = 0;
  child->mm.demand_faults = 0;
  child->mm.cow_faults = 0;
  child->kill_pending = 0;
  struct vmm_fork_counts counts = {0};
  for (uint32_t i = 0; i < n; i++)
    vmm_fork_range(parent->mm.dir, dir, areas[i].start, areas[i].end, areas[i].shared, &counts);
  /* One CR3 reload drops every stale writable translation of the parent
   * (kernel pages are global and stay); cheaper than an invlpg per page
   * once more than a few pages changed. */
  if (counts.write_protected) switch_page_directory(parent->mm.dir);
  shm_inherit(child);
  files_inherit(child);
  struct trapframe child_tf = *tf;
  child_tf.eax = 0; /* fork() returns 0 in the child */
  proc_set_first_frame(child, &child_tf);
  proc_start(child);
  krecord("FORK parent=%u child=%u pages=%u shared=%u cow=%u\n", parent->pid, child->pid,
          counts.pages, counts.shared, counts.cow);
  return (int)child->pid;
}
