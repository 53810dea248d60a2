/* The physical memory manager: 4 KiB frames in a bitmap.
 *
 * memory_init() builds the bitmap from the multiboot memory map: frames of
 * available regions start free; holes, reserved regions, the first MiB, the
 * kernel image, the multiboot modules and the bitmap itself are used and also
 * marked reserved, which makes freeing them an error.  One bit per frame,
 * covering RAM up to the end of the highest available region the paging
 * mode reaches (legacy: 4 GiB, the rest is counted in ignored_frames; PAE:
 * RAM above 4 GiB too), stored right after the kernel image and modules.
 *
 * allocate_page takes the lowest free frame below 4 GiB, in O(1): see pmm.c.
 * Its frames are physical addresses; user frames (pmm_alloc_user_frame) come
 * from the top down and are frame numbers, as they may lie above 4 GiB.  The
 * kernel reaches frames through the direct map or kmap()/kmap_pfn() (vmm.h).
 *
 * Bad input to free_page (a frame that is already free, reserved, unaligned,
 * or outside the bitmap) is refused: one record
 *   PMM error=<kind> addr=<hex> caller=<hex>
 * is printed, the kind's counter is incremented, and nothing changes. */
#pragma once

#include "kernel/spinlock.h"
#include "mm/numa.h"
#include "types.h"

#define FRAME_SIZE 4096u
#define FRAME_SHIFT 12

/* Counters the harness reads (struct layout from the debug info). */
struct pmm_stats {
  uint32_t frame_count;      /* frames the bitmap covers (0 .. top of RAM) */
  uint32_t usable_frames;    /* frames in available regions: get_total_memory() */
  uint32_t reserved_frames;  /* never handed out: holes, first MiB, kernel, modules, bitmap */
  uint32_t free_frames;      /* frames free right now */
  uint32_t failed_allocations;
  uint32_t double_frees;     /* error counters, one per kind */
  uint32_t reserved_frees;
  uint32_t unaligned_frees;
  uint32_t out_of_range_frees;
  vaddr_t last_error_caller;
  uint32_t ignored_frames;   /* available RAM the paging mode cannot map (legacy: >= 4 GiB) */
};

extern struct pmm_stats pmm_stats;
/* The PMM's lock.  For now only the per-CPU frame caches (mm/pcp.h) take it,
 * around their refills and drains; the lock pass over mm (issue 20's next
 * wave) puts every PMM entry under it. */
extern struct spinlock pmm_lock;

/* Where the bitmap lives, for the harness and for debugging. */
extern uint32_t *pmm_bitmap;         /* bit i set: frame i is in use */
extern uint32_t *pmm_reserved;       /* bit i set: frame i can never be freed */
extern paddr_t pmm_bitmap_phys;      /* physical start of everything memory_init placed */
extern uint32_t pmm_bitmap_bytes;    /* and its size in bytes (page aligned) */

/* Builds the allocator from boot_info.  Panics when RAM is too small to run. */
void memory_init(void);

/* A free frame below 4 GiB (its physical address), or NULL when those are
 * exhausted: frames above 4 GiB are never returned here. */
void *allocate_page(void);
/* n physically contiguous frames (the first one's address), or NULL when no
 * run of n free frames exists.  2 <= n <= 2^BUDDY_MAX_ORDER: the block
 * allocate_block(ceil(log2 n)) would give, else one from the zones between
 * the direct-map limit and 4 GiB; its frames past n are freed again.
 * Larger n (or before the buddy maps exist): the lowest run, by a scan,
 * O(frames). */
void *allocate_pages(uint32_t n);
/* Frees one frame; bad input is reported and refused (see above). */
void free_page(void *page);
/* allocate_page and free_page on the bitmap itself, whatever `pcp=` says:
 * what the per-CPU frame caches (mm/pcp.h) refill from and drain to.
 * pmm_free_lowest reports a refused frame with `caller`. */
void *pmm_alloc_lowest(void);
void pmm_free_lowest(paddr_t pa, vaddr_t caller);
/* The PMM's double-free report and count for a frame it cannot see is free:
 * one a frame cache already holds (mm/pcp.h).  Under pmm_lock. */
void pmm_refuse_double_free(paddr_t pa, vaddr_t caller);
/* Frees n contiguous frames starting at page (each checked as free_page). */
void free_pages(void *page, uint32_t n);

/* A frame for user memory (its number), or 0 when memory is exhausted: the
 * lowest free frame at or above 4 GiB, else at or above the direct-map
 * limit, else the lowest free frame (lowest-first within each zone). */
pfn_t pmm_alloc_user_frame(void);
/* Frees a frame by number, checked as free_page (errors report its address). */
void pmm_free_frame(pfn_t pfn);

/* Bytes of RAM the loader reported available (the kernel's own frames
 * included), and bytes free right now; both saturate at 0xFFFFFFFF. */
uint32_t get_total_memory(void);
uint32_t get_free_memory(void);

/* -- buddy allocation and nodes (issue 19; mm/buddy.c, mm/numa.h) ----------
 *
 * Free frames below 4 GiB also form buddy blocks: 2^k frames (k <=
 * BUDDY_MAX_ORDER) aligned to 2^k, never crossing a zone boundary, maximal
 * (a free block's buddy is never a free block of the same order).  They are
 * a function of the bitmap, which stays the one truth for "is this frame
 * used"; mm/buddy.c keeps one map per order of them (see mm/buddy.h), and
 * allocate_page still returns the lowest free frame.
 *
 * Zones: each NUMA node's frames below 4 GiB (one node until pmm_set_nodes),
 * split at the direct-map limit.  Frames at or above 4 GiB (PAE) are only
 * ever single user frames and stay in the bitmap alone. */
#define BUDDY_MAX_ORDER 10

/* Builds the buddy maps from the bitmap (one node), after frame_table_init:
 * until then the PMM is the bitmap alone. */
void pmm_buddy_init(void);

/* 2^order physically contiguous frames below the direct-map limit, aligned
 * to their size (the first frame's physical address), or NULL.  Over the
 * zones below the limit in node order, the first that has a free block of
 * order >= `order`; in it the smallest such order, the lowest such block
 * (its upper halves stay free).  O(orders x summary levels).  A failure
 * counts in pmm_stats.failed_allocations and, for order <= BUDDY_MAX_ORDER,
 * in buddy_stats.failures[order] (a larger order is not counted there). */
void *allocate_block(uint32_t order);
/* Frees a block: a wholly used block of 2^order frames, aligned, without a
 * reserved frame and inside one zone is freed at once (a word of bitmap at
 * a time); anything else frame by frame, each checked (and refused) as
 * free_page. */
void free_block(void *block, uint32_t order);

/* Called once by numa_init after it has read the SRAT: re-partitions the
 * zones by node, sets frame_table[pfn].node, rebuilds the buddy maps from
 * the bitmap.  Frames outside every range belong to node 0. */
void pmm_set_nodes(const struct numa_range *ranges, uint32_t range_count, uint32_t node_count);
/* A user frame from node `node` only (lowest free first, from the top zone
 * down as pmm_alloc_user_frame), or 0 when that node has none free. */
pfn_t pmm_alloc_user_frame_node(uint32_t node);

/* Per node (the harness reads these; pmm_node_count is 1 without NUMA). */
struct pmm_node_stats {
  pfn_t start, end;          /* lowest and one past the highest frame of the node */
  uint32_t frames;           /* frames of the node's ranges (reserved included) */
  uint32_t free_frames;      /* kept only when pmm_node_count > 1, else 0: see pmm_node_free */
  uint32_t allocations;      /* frames pmm_alloc_user_frame(_node) gave from it (user
                              * pages, the page cache, the balloon) */
  uint32_t fallbacks;        /* of those, asked for another node first */
};
extern uint32_t pmm_node_count;
extern struct pmm_node_stats pmm_node_stats[NUMA_MAX_NODES];
/* Free frames of a node now (with one node: pmm_stats.free_frames, as the
 * page path does not keep a per-node copy then). */
uint32_t pmm_node_free(uint32_t node);

/* Whether frame address pa is currently allocated (for assertions). */
bool pmm_frame_used(paddr_t pa);
bool pmm_pfn_used(pfn_t pfn);
