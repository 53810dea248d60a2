/* The kmalloc family: dispatch between slabs and the large region, the
 * checks and reports they share, statistics, leak reports, heap_check. */
#include "mm/heap.h"
#include "kernel/cmdline.h"
#include "kernel/errno.h"
#include "kernel/kprintf.h"
#include "kernel/panic.h"
#include "lib/string.h"
#include "memlayout.h"
#include "mm/fault.h"
#include "mm/frame.h"
#include "mm/heap_internal.h"
#include "mm/slab.h"
#include "mm/pcp.h"
#include "mm/pmm.h"
#include "mm/vmm.h"
#include "kernel/smp.h"

struct heap_stats heap_stats;
bool heap_debug_full;
uint32_t heap_epoch = 1;

static const char *const error_names[HEAP_ERR_COUNT] = {
    [HEAP_ERR_DOUBLE_FREE] = "double-free",
    [HEAP_ERR_INVALID_POINTER] = "invalid-pointer",
    [HEAP_ERR_INTERIOR_POINTER] = "interior-pointer",
    [HEAP_ERR_RED_ZONE] = "red-zone",
    [HEAP_ERR_HEADER_CORRUPT] = "header-corrupt",
    [HEAP_ERR_USE_AFTER_FREE] = "use-after-free",
};

const char *heap_error_name(enum heap_error kind) {
  return (uint32_t)kind < HEAP_ERR_COUNT ? error_names[kind] : "?";
}

void heap_init(void) {
  static const char *const modes[] = {"off", "full"};
  heap_debug_full = cmdline_choice("heap_debug", modes, ARRAY_SIZE(modes), 0) == 1;
  slab_init();
  krecord("HEAP base=%p slabs=%p large=%p limit=%p debug=%s\n", (void *)KHEAP_BASE,
          (void *)SLAB_BASE, (void *)LARGE_BASE, (void *)LARGE_LIMIT,
          heap_debug_full ? "full" : "default");
}

void heap_report(enum heap_error kind, const void *addr, vaddr_t caller, uint32_t size) {
  heap_stats.errors[kind]++;
  heap_stats.last_error_caller = caller;
  if (size) krecord("HEAP error=%s addr=%p caller=%p size=%u\n", error_names[kind], addr,
                    (void *)caller, size);
  else krecord("HEAP error=%s addr=%p caller=%p\n", error_names[kind], addr, (void *)caller);
}

void heap_check_fail(const char *what, const void *addr) {
  krecord("HEAP check=fail what=%s addr=%p\n", what, addr);
}

/* Backs [start, end) with fresh frames where nothing is mapped yet: all of
 * it, or (without enough free frames) nothing.  Kernel page tables are
 * preallocated, so frames for the pages are the only thing that can run out. */
bool heap_map_range(vaddr_t start, vaddr_t end) {
  uint32_t missing = 0;
  for (vaddr_t va = ALIGN_DOWN(start, PAGE_SIZE); va < end; va += PAGE_SIZE)
    missing += vmm_lookup(&kernel_page_directory, va, NULL, NULL) != 0;
  if (missing > pmm_stats.free_frames) return false;
  for (vaddr_t va = ALIGN_DOWN(start, PAGE_SIZE); va < end && missing; va += PAGE_SIZE) {
    if (vmm_lookup(&kernel_page_directory, va, NULL, NULL) == 0) continue;
    paddr_t frame = (paddr_t)allocate_page();
    ASSERT(frame && vmm_map(&kernel_page_directory, va, frame, PAGE_WRITE | PAGE_OWNED) == 0);
    heap_stats.bytes_mapped += PAGE_SIZE;
    missing--;
  }
  heap_stats.peak_mapped = MAX(heap_stats.peak_mapped, heap_stats.bytes_mapped);
  return true;
}

void heap_unmap_range(vaddr_t start, vaddr_t end) {
  for (vaddr_t va = ALIGN_DOWN(start, PAGE_SIZE); va < end; va += PAGE_SIZE)
    if (vmm_lookup(&kernel_page_directory, va, NULL, NULL) == 0) {
      vmm_unmap(&kernel_page_directory, va, NULL); /* PAGE_OWNED: the frame is freed */
      heap_stats.bytes_mapped -= PAGE_SIZE;
    }
}

static __attribute__((noinline)) void *alloc_large(size_t size, vaddr_t caller) {
  void *p = size ? large_alloc(size, 16, caller) : NULL;
  if (!p && size) heap_stats.failed_allocations++;
  return p;
}

static inline __attribute__((always_inline)) void *alloc(size_t size, vaddr_t caller) {
  if (__builtin_expect(size - 1 < HEAP_SMALL_MAX, 1)) { /* 1..HEAP_SMALL_MAX; 0 wraps */
    void *p = slab_alloc(size, caller);
    if (__builtin_expect(!p, 0)) heap_stats.failed_allocations++;
    return p;
  }
  return alloc_large(size, caller);
}

void *kmalloc(size_t size) { return alloc(size, CALLER()); }

void *kmalloc_aligned(size_t size) {
  if (size == 0) return NULL;
  void *p = large_alloc(size, PAGE_SIZE, CALLER());
  if (!p) heap_stats.failed_allocations++;
  return p;
}

void *kcalloc(size_t num, size_t size) {
  if (size && num > SIZE_MAX / size) return NULL; /* num * size overflows */
  void *p = alloc(num * size, CALLER());
  if (p) memset(p, 0, num * size);
  return p;
}

/* kmalloc_contig's live blocks: the first frame carries FRAME_CONTIG, and
 * this table the block's order (device rings and buffers: few blocks, so a
 * linear search at kfree).  An entry is pfn << 4 | order; 0 is an empty
 * slot, as frame 0 is never handed out. */
#define CONTIG_MAX 256
static uint32_t contig_blocks[CONTIG_MAX];

/* The slot holding block pfn, or the first empty one for pfn 0; or -1. */
static int contig_slot(uint32_t pfn) {
  for (int i = 0; i < CONTIG_MAX; i++)
    if (contig_blocks[i] >> 4 == pfn) return i;
  return -1;
}

void *kmalloc_contig(size_t size) {
  if (size == 0) return NULL; /* as kmalloc(0): nothing to hand out, no failure */
  uint32_t order = 0;
  while (order <= BUDDY_MAX_ORDER && (FRAME_SIZE << order) < size) order++;
  int slot = contig_slot(0);
  void *pa = slot >= 0 ? allocate_block(order) : NULL; /* NULL for order > max too */
  if (!pa) {
    heap_stats.failed_allocations++;
    return NULL;
  }
  uint32_t pfn = (paddr_t)pa >> FRAME_SHIFT;
  int stale = contig_slot(pfn); /* a block given back by free_block, not kfree */
  if (stale >= 0) contig_blocks[stale] = 0;
  contig_blocks[slot] = pfn << 4 | order;
  frame_table[pfn].flags |= FRAME_CONTIG;
  return P2V((paddr_t)pa);
}

/* The order of the kmalloc_contig block at ptr, or -1: direct-mapped, page
 * aligned, its first frame used and marked by kmalloc_contig. */
static int contig_order(const void *ptr) {
  vaddr_t va = (vaddr_t)ptr;
  if (va < KERNEL_BASE || va - KERNEL_BASE >= DIRECT_MAP_LIMIT || va & (FRAME_SIZE - 1)) return -1;
  uint32_t pfn = V2P(ptr) >> FRAME_SHIFT;
  if (pfn >= frame_table_frames || !(frame_table[pfn].flags & FRAME_CONTIG) || !pmm_pfn_used(pfn))
    return -1;
  int slot = contig_slot(pfn);
  return slot >= 0 ? (int)(contig_blocks[slot] & 0xF) : -1;
}

/* kfree of a kmalloc_contig block: its mark and entry go, then the block. */
static void contig_free(void *ptr, uint32_t order) {
  uint32_t pfn = V2P(ptr) >> FRAME_SHIFT;
  frame_table[pfn].flags &= (uint8_t)~FRAME_CONTIG;
  contig_blocks[contig_slot(pfn)] = 0;
  free_block((void *)V2P(ptr), order);
}

static __attribute__((noinline)) void free_other(void *ptr, vaddr_t caller) {
  if (!ptr) return;
  int order;
  if (large_owns(ptr)) large_free(ptr, caller);
  else if ((order = contig_order(ptr)) >= 0) contig_free(ptr, (uint32_t)order);
  else heap_report(HEAP_ERR_INVALID_POINTER, ptr, caller, 0);
}

static inline __attribute__((always_inline)) void free_from(void *ptr, vaddr_t caller) {
  if (__builtin_expect(slab_owns(ptr), 1)) slab_free(ptr, caller);
  else free_other(ptr, caller);
}

void kfree(void *ptr) { free_from(ptr, CALLER()); }

/* The bytes a live block of ours may hold; 0 (after a report) for anything
 * else, which krealloc then refuses. */
static uint32_t live_capacity(void *ptr, vaddr_t caller) {
  if (slab_owns(ptr) || large_owns(ptr)) {
    uint32_t word;
    if (IS_ALIGNED((vaddr_t)ptr, 16) &&
        probe_read32((vaddr_t)&header_of(ptr)->canary, &word) == 0 &&
        (word == canary(CANARY_LIVE, ptr) || word == canary(CANARY_LIVE_DEBUG, ptr)))
      return slab_owns(ptr) ? slab_capacity(ptr) - REDZONE_BYTES : large_capacity(ptr);
  }
  free_from(ptr, caller); /* not ours, or not live: kfree's checks report why */
  return 0;
}

void *krealloc(void *ptr, size_t size) {
  vaddr_t caller = CALLER();
  if (!ptr) return alloc(size, caller);
  if (size == 0) {
    free_from(ptr, caller);
    return NULL;
  }
  uint32_t capacity = live_capacity(ptr, caller);
  if (!capacity) return NULL;
  uint32_t old = header_of(ptr)->size;
  if (size <= capacity && (large_owns(ptr) || size > HEAP_SMALL_MAX / 2 ||
                           size >= capacity / 2)) { /* fits where it is */
    if (large_owns(ptr)) {
      large_resize(ptr, size); /* cannot fail: no growth */
    } else {
      header_of(ptr)->size = size;
      *(uint32_t *)((uint8_t *)ptr + size) = REDZONE_PATTERN;
    }
    return ptr;
  }
  if (large_owns(ptr) && size > HEAP_SMALL_MAX && large_resize(ptr, size)) return ptr;
  void *fresh = alloc(size, caller);
  if (!fresh) return NULL; /* the old block is untouched */
  memcpy(fresh, ptr, MIN(old, size));
  free_from(ptr, caller);
  return fresh;
}

void heap_update_stats(void) {
  heap_stats.bytes_requested = heap_stats.bytes_in_use = heap_stats.live_blocks = 0;
  slab_stats();
  large_stats();
}

void heap_trim(void) {
  slab_trim();
  large_trim();
  pcp_drain_cpu(this_cpu()->index); /* what it gave back may sit in this CPU's frame cache */
}

int heap_check(void) {
  int rc = slab_check();
  return rc ? rc : large_check();
}

uint32_t heap_mark(void) { return ++heap_epoch; }

uint32_t heap_leak_report(uint32_t mark) {
  uint32_t bytes = 0;
  uint32_t count = slab_leaks(mark, &bytes) + large_leaks(mark, &bytes);
  krecord("LEAKS count=%u bytes=%u since=%u\n", count, bytes, mark);
  return count;
}
