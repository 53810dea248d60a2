/* The kernel heap: kmalloc and friends.
 *
 * Small requests (up to HEAP_SMALL_MAX bytes) come from per-size-class slabs;
 * larger ones from a boundary-tag region with coalescing (mm/heap_large.c).
 * Both live in the kernel-heap virtual range (memlayout.h) and map frames on
 * demand; empty slabs and large free ranges beyond a small reserve go back to
 * the PMM.
 *
 * Alignment: every result is 16-byte aligned (so 8 for the smallest sizes,
 * 16 from 16 up); kmalloc_aligned results are page aligned.
 * kmalloc(0) returns NULL (there is nothing to hand out; callers that want a
 * unique pointer ask for 1 byte).  kfree(NULL) does nothing.
 * Out of memory: NULL, and the heap stays consistent.
 *
 * Always-on checks (cheap enough for production): a header canary derived
 * from the block's address; a 4-byte red zone right after the requested bytes,
 * checked at kfree; freed memory poisoned (the first 32 bytes, the whole block
 * with `heap_debug=full`) and checked when handed out again.  Each violation,
 * and each bad free (double free, a pointer the heap never returned, an
 * interior pointer), is one record
 *   HEAP error=<kind> addr=<hex> caller=<hex> [size=<n>]
 * counted in heap_stats.  Bad frees are ignored; a corrupted block is
 * quarantined (never reused). */
#pragma once

#include "types.h"

#define HEAP_SMALL_MAX 2048u
#define HEAP_CLASS_COUNT 20

enum heap_error {
  HEAP_ERR_DOUBLE_FREE,
  HEAP_ERR_INVALID_POINTER,  /* not a pointer into the heap at all */
  HEAP_ERR_INTERIOR_POINTER, /* inside the heap, but not a block the heap returned */
  HEAP_ERR_RED_ZONE,         /* the bytes after the block were overwritten */
  HEAP_ERR_HEADER_CORRUPT,   /* the block's header canary was overwritten */
  HEAP_ERR_USE_AFTER_FREE,   /* a freed block was written before being reused */
  HEAP_ERR_COUNT
};

struct heap_stats {
  uint32_t bytes_requested;  /* live bytes as asked for */
  uint32_t bytes_in_use;     /* live bytes including headers, red zones, rounding */
  uint32_t bytes_mapped;     /* bytes of heap virtual memory backed by frames */
  uint32_t peak_mapped;
  uint32_t largest_free;     /* largest block the large region could hand out now */
  uint32_t live_blocks;
  uint32_t quarantined;      /* blocks taken out of service */
  uint32_t failed_allocations;
  uint32_t class_size[HEAP_CLASS_COUNT];  /* payload bytes of each slab class */
  uint32_t class_live[HEAP_CLASS_COUNT];  /* live blocks per class */
  uint32_t class_slabs[HEAP_CLASS_COUNT]; /* slabs per class */
  uint32_t errors[HEAP_ERR_COUNT];        /* indexed by enum heap_error */
  vaddr_t last_error_caller;
};

/* Quick fit in front of the large region's boundary tags (mm/heap_large.c):
 * HEAP_QUICK_LISTS exact-size lists, each learned from the sizes freed most
 * often (only a block of exactly the size its request needed is parked: one
 * handed out whole, larger than asked for, goes back to the boundary tags).  hits: large allocations served from a list; misses: the others
 * small enough for one (blocks up to 128 KiB; 16-byte aligned ones only:
 * page-aligned requests never use the lists);
 * flushes: times a list (or all of them) went back to the boundary tags,
 * flushed_blocks: the blocks that went back. */
#define HEAP_QUICK_LISTS 8
struct heap_quick_stats {
  uint32_t hits, misses, flushes, flushed_blocks;
  uint32_t block_size[HEAP_QUICK_LISTS]; /* a list's block bytes (tag included), 0: unused */
  uint32_t blocks[HEAP_QUICK_LISTS];     /* blocks on it now */
  uint32_t frees[HEAP_QUICK_LISTS];      /* frees of that size seen since it was assigned */
};
extern struct heap_quick_stats heap_quick;
/* Every quick-listed block back to the boundary tags (coalesced). */
void heap_quick_flush(void);

/* The name a HEAP error record uses for `kind` ("double-free"...), or "?". */
const char *heap_error_name(enum heap_error kind);

/* Recomputed by heap_update_stats(); bytes_mapped/peak_mapped, the error
 * counters and failed_allocations are always current. */
extern struct heap_stats heap_stats;

void heap_init(void);

void *kmalloc(size_t size);
/* Page-aligned (4 KiB) memory. */
void *kmalloc_aligned(size_t size);
/* size bytes, physically contiguous and direct-mapped (a buddy block of
 * 2^k frames, k <= BUDDY_MAX_ORDER: at most 4 MiB), page aligned, for
 * devices; kfree returns it.  NULL if no block that large is free (or 256
 * such blocks are live already: heap.c keeps their orders in a table). */
void *kmalloc_contig(size_t size);
/* num * size zeroed bytes; NULL if num * size overflows. */
void *kcalloc(size_t num, size_t size);
/* Keeps the contents up to the smaller size; grows in place when it can.
 * krealloc(NULL, n) is kmalloc(n); krealloc(p, 0) frees p and returns NULL.
 * A pointer the heap does not own is reported and NULL returned (p untouched). */
void *krealloc(void *ptr, size_t size);
void kfree(void *ptr);

/* Walks every slab and block; reports the first inconsistency as
 *   HEAP check=fail what=<what> addr=<hex>
 * and returns -EINVAL, or 0 (silently) when everything is consistent. */
int heap_check(void);
void heap_update_stats(void);
/* Gives back everything the heap keeps mapped for speed: empty slabs (even
 * the one each class keeps) and the free pages of the large region. */
void heap_trim(void);

/* Leak tracking: every live block records its caller and the epoch it was
 * allocated in.  heap_mark() starts a new epoch and returns it;
 * heap_leak_report(mark) prints `LEAK addr= size= caller= epoch=` for each
 * block allocated since that mark and still live, then `LEAKS count= bytes=`,
 * and returns the count. */
uint32_t heap_mark(void);
uint32_t heap_leak_report(uint32_t mark);
