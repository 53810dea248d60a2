/* Per-frame metadata: one struct frame_info for every frame the PMM's bitmap
 * covers, in one array sized from the memory map at boot (frame_table_init,
 * right after vmm_init: 4 bytes a frame, from low memory the direct map
 * reaches; for 64 GiB of RAM that is 64 MiB).
 *
 * The bitmap stays the one truth for "is this frame in use"; the table says
 * who holds a used frame.  refs counts
 *   - every mapping with PAGE_OWNED (vmm.h) that names the frame, in any
 *     address space, the kernel half included (kernel stacks, the heap), and
 *   - every reference the kernel holds without a mapping (a shared-memory
 *     segment holds one on each of its frames while it exists).
 * A mapping takes its reference when it is made and drops it when it goes;
 * the frame returns to the PMM when the count falls to zero.  The harness's
 * audit checks this equation for every frame after every process test.
 *
 * Bad input (a reference dropped on a frame that has none, a count that would
 * overflow, a frame number outside the table) is refused with one record
 *   FRAME error=<kind> pfn=<hex> refs=<n> caller=<hex>
 * and nothing changes. */
#pragma once

#include "types.h"

struct frame_info {
  uint16_t refs;  /* mappings + kernel references (see above) */
  uint8_t flags;  /* FRAME_* */
  uint8_t node;   /* the NUMA node the frame belongs to (0 until there are nodes) */
};
_Static_assert(sizeof(struct frame_info) == 4, "the harness reads 4 bytes a frame");

/* Flags.  A frame's flags are cleared when it returns to the PMM. */
/* FRAME_COW: may be shared copy-on-write.  Set whenever a PTE maps the frame
 * PAGE_COW (fork, mprotect); cleared when its last holder takes it back or it
 * is freed.  It may outlive the last PAGE_COW entry: after a copy, the other
 * holders' entries need not be COW (an mprotect made only one of them so). */
#define FRAME_COW 0x01
#define FRAME_PINNED 0x02     /* held by the kernel (shared memory): never swapped or moved */
/* FRAME_BALLOON: given to the host by the virtio balloon (dev/balloon.h): the
 * balloon holds one reference; never mapped, never handed out until deflated. */
#define FRAME_BALLOON 0x04
#define FRAME_PAGECACHE 0x08  /* a file page: the page cache holds one reference (fs/pagecache.h) */
#define FRAME_SWAPCACHE 0x10  /* in the swap cache: it holds one reference (mm/swap.h) */
/* FRAME_CONTIG: the first frame of a live kmalloc_contig block (heap.c keeps
 * its order); cleared by kfree. */
#define FRAME_CONTIG 0x20
/* FRAME_PCP: in a CPU's frame cache (mm/pcp.h), used in the bitmap and held by
 * nobody: set when the cache takes the frame (a refill or a free), cleared
 * when it hands the frame out or gives it back, so a second free of a cached
 * frame is seen at once. */
#define FRAME_PCP 0x40

#define FRAME_REFS_MAX 0xFFFFu

extern struct frame_info *frame_table; /* indexed by frame number */
extern uint32_t frame_table_frames;     /* entries: pmm_stats.frame_count */
extern paddr_t frame_table_phys;        /* where it lives (allocated from the PMM) */

struct frame_stats {
  uint32_t refs_taken, refs_dropped;
  uint32_t freed;   /* frames returned to the PMM at zero references */
  uint32_t errors;  /* refused calls, all kinds */
  vaddr_t last_error_caller;
};
extern struct frame_stats frame_stats;

/* Allocates and zeroes the table; one record
 *   FRAME table=<hex> frames=<n> bytes=<n>
 * Panics when no run of free frames can hold it. */
void frame_table_init(void);

/* Takes a reference on pfn: 0, or -EINVAL (outside the table, or the count
 * is at FRAME_REFS_MAX). */
int frame_ref(pfn_t pfn);
/* Drops a reference; at zero the frame's flags are cleared and it is freed.
 * 0, or -EINVAL (outside the table, or no reference to drop). */
int frame_unref(pfn_t pfn);
/* Whether frame_ref(pfn) would succeed (for callers that must check before
 * they change anything). */
static inline bool frame_can_ref(pfn_t pfn) {
  return pfn < frame_table_frames && frame_table[pfn].refs < FRAME_REFS_MAX;
}
/* The frame's reference count (0 outside the table). */
uint32_t frame_refs(pfn_t pfn);
