/* An address space: a page directory and what the kernel knows of the user
 * half it maps (its areas, mmap regions, shared-memory attachments, limits
 * and counters).  Today each process embeds exactly one (struct process.mm);
 * threads (issue 20) will share their process's, which is why it is a struct
 * of its own and code that needs only the address space takes a struct mm. */
#pragma once

#include "mm/numa.h"
#include "mm/vmm.h"
#include "types.h"

#define PROC_SHM_MAX 4            /* shared-memory attachments per address space */
#define PROC_REGIONS_MAX 32       /* mmap regions per address space (the mappings limit's ceiling) */

struct shm_attachment {
  int32_t id;                     /* -1: unused */
  vaddr_t va;
  uint32_t pages;
};

/* One mmap region: [start, end), page aligned, PROT_* and MAP_SHARED or
 * MAP_PRIVATE (kernel/mman.h).  The image, heap, stack and shared-memory
 * areas are not regions: they keep their own fields below.  A file mapping
 * names its file (fs/fs.h) and the file page at start; anonymous: NULL, 0. */
struct fs_file;
struct vm_region {
  vaddr_t start, end;
  uint32_t prot;
  uint32_t flags;
  const struct fs_file *file;
  uint32_t pgoff;
};

/* Limits (kernel/mman.h RLIMIT_*), lowered by setrlimit. */
struct proc_limits {
  uint32_t as_pages;              /* reserved_pages may not exceed it */
  uint32_t resident_pages;        /* pages may not exceed it */
  uint32_t mappings;              /* region_count may not exceed it */
};

struct mm {
  page_directory_t *dir;
  paddr_t cr3;
  vaddr_t image_end;              /* end of the ELF segments */
  vaddr_t heap_base, brk;         /* heap: [heap_base, brk), pages on first touch */
  vaddr_t stack_top, stack_limit; /* stack: [stack_limit, stack_top); guard page below */
  vaddr_t shm_base;               /* where shared memory is attached */
  uint32_t pages;                 /* user frames mapped (shared ones included) */
  uint32_t reserved_pages;        /* image + heap + stack limit + shm: <= PROC_MAX_PAGES */
  struct shm_attachment shm[PROC_SHM_MAX];
  /* Faults that mapped a zeroed page into this space (heap, stack growth,
   * anonymous mmap): work done on the address space, whichever thread took
   * the fault, so counted here next to pages, as cow_faults is. */
  uint32_t demand_faults;
  struct vm_region regions[PROC_REGIONS_MAX]; /* sorted by start, disjoint */
  uint32_t region_count;
  vaddr_t mmap_base;              /* where kernel-chosen mmap addresses start (ASLR) */
  struct proc_limits limits;
  uint32_t cow_faults;            /* write faults that copied or took back a COW page */
  uint32_t swapped_pages;         /* swap entries in its page tables (mm/swap.h) */
  struct numa_policy mempolicy;   /* where its frames come from (mm/numa.h) */
  /* CPUs that may hold this space's translations in their TLBs: a bit per
   * CPU, set when a CPU loads dir and cleared when it switches away (TLB
   * shootdown, issue 20).  Always 0 for now: only CPU 0 runs processes and
   * nothing reads it yet. */
  uint32_t cpu_mask;
  /* Threads using this space: 1 for now (one thread per process). */
  uint32_t users;
};
