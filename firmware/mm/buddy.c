/* The buddy lists: free blocks of 2^k frames per zone and order, split on
 * allocation, merged on free (see mm/buddy.h).  They mirror pmm.c's bitmap,
 * which stays the truth: pmm.c changes the bitmap and tells this file which
 * frames left or joined the free pool; nothing here decides whether a frame
 * is in use.
 *
 * Lists are doubly linked through the head frames' metadata, newest first
 * (a block freed now is the next one handed out of its order); removing a
 * block from the middle is O(1).  Every operation walks at most the orders:
 * taking a frame finds its block by trying each order's aligned head,
 * freeing merges upward while the buddy is a free head of the same order in
 * the same zone. */
#include "mm/buddy.h"
#include "kernel/kprintf.h"
#include "kernel/panic.h"
#include "lib/string.h"
#include "memlayout.h"
#include "mm/frame.h"
#include "mm/numa.h"

#define LOW_PFN_LIMIT 0x100000u /* frames below 4 GiB */
#define DIRECT_PFN_LIMIT (DIRECT_MAP_LIMIT >> FRAME_SHIFT)

struct buddy_stats buddy_stats;
struct buddy_frame *buddy_frames;
uint32_t buddy_frame_count;
paddr_t buddy_frames_phys;
uint32_t buddy_lists[BUDDY_ZONES][BUDDY_ORDERS];
bool buddy_ready;

/* The head of the free block holding pfn, which heads none itself (only
 * after a debugger's poke): the one aligned head per order that heads a
 * free block of that order. */
static __attribute__((noinline)) uint32_t find_block(uint32_t pfn) {
  uint32_t order = 0, head = pfn;
  while (buddy_frames[head].order != order) {
    if (++order > BUDDY_MAX_ORDER)
      PANIC("buddy: frame %p is free in the bitmap but in no free block", (void *)pfn);
    head = pfn & ~((1u << order) - 1);
  }
  return head;
}

/* The lowest free frame of a zone heads its block, so allocate_page finds
 * it at once. */
void buddy_take_frame(uint32_t pfn) {
  struct buddy_frame *frames = buddy_frames;
  uint32_t order = frames[pfn].order, head = pfn;
  if (__builtin_expect(order > BUDDY_MAX_ORDER, 0)) { /* no local's address: no stack canary */
    head = find_block(pfn);
    order = frames[head].order;
  }
  uint32_t zone = frames[pfn].zone, *lists = buddy_lists[zone];
  buddy_unlink(frames, lists, head);
  pmm_node_stats[zone >> 1].free_frames--;
  /* Split down to pfn: at each level the half without pfn goes back. */
  while (order > 0) {
    buddy_stats.splits[order]++;
    order--;
    uint32_t half = 1u << order;
    if (pfn >= head + half) {
      buddy_push(frames, lists, head, order);
      head += half;
    } else {
      buddy_push(frames, lists, head + half, order);
    }
  }
}

/* -- building the lists ---------------------------------------------------- */

static inline bool frame_free(uint32_t pfn) {
  return !(pmm_bitmap[pfn / 32] & (1u << (pfn % 32)));
}

/* The lists from scratch: every maximal run of free frames in one zone, cut
 * into the largest aligned blocks that fit, appended in address order (so
 * each list starts with its lowest block). */
void buddy_rebuild(void) {
  static uint32_t tails[BUDDY_ZONES][BUDDY_ORDERS];
  memset(buddy_lists, 0xFF, sizeof buddy_lists);
  memset(tails, 0xFF, sizeof tails);
  memset(&buddy_stats.free_blocks, 0, sizeof buddy_stats.free_blocks);
  for (uint32_t n = 0; n < NUMA_MAX_NODES; n++) pmm_node_stats[n].free_frames = 0;
  for (uint32_t pfn = 0; pfn < buddy_frame_count; pfn++) {
    uint32_t node = frame_table ? frame_table[pfn].node : 0;
    uint8_t order = buddy_frames[pfn].order; /* a block's mark on a used frame stays */
    if (order == BUDDY_NOT_HEAD || !(order & (BUDDY_CONTIG | BUDDY_BLOCK)) || frame_free(pfn))
      order = BUDDY_NOT_HEAD;
    buddy_frames[pfn] = (struct buddy_frame){BUDDY_NONE, BUDDY_NONE, order,
                                             (uint8_t)(node * 2 + (pfn >= DIRECT_PFN_LIMIT)), 0};
  }
  uint32_t pfn = 0;
  while (pfn < buddy_frame_count) {
    if (pmm_bitmap[pfn / 32] == 0xFFFFFFFFu && pfn % 32 == 0) {
      pfn += 32;
      continue;
    }
    if (!frame_free(pfn)) {
      pfn++;
      continue;
    }
    /* The largest block at pfn: aligned, free throughout, one zone. */
    uint32_t order = 0, zone = buddy_frames[pfn].zone;
    while (order < BUDDY_MAX_ORDER && !(pfn & (1u << order))) {
      uint32_t end = pfn + (2u << order);
      if (end > buddy_frame_count) break;
      bool ok = true;
      for (uint32_t f = pfn + (1u << order); f < end && ok; f++)
        ok = frame_free(f) && buddy_frames[f].zone == zone;
      if (!ok) break;
      order++;
    }
    struct buddy_frame *b = &buddy_frames[pfn];
    b->order = (uint8_t)order;
    uint32_t *tail = &tails[zone][order];
    if (*tail == BUDDY_NONE) buddy_lists[zone][order] = pfn;
    else buddy_frames[*tail].next = pfn;
    b->prev = *tail;
    *tail = pfn;
    buddy_stats.free_blocks[order]++;
    pmm_node_stats[zone >> 1].free_frames += 1u << order;
    pfn += 1u << order;
  }
}

void buddy_alloc_metadata(void) {
  buddy_frame_count = MIN(pmm_stats.frame_count, LOW_PFN_LIMIT);
  uint32_t bytes = ALIGN_UP(buddy_frame_count * (uint32_t)sizeof(struct buddy_frame), FRAME_SIZE);
  paddr_t pa = (paddr_t)allocate_pages(bytes / FRAME_SIZE); /* the scan: lists do not exist yet */
  if (!pa || pa + bytes > DIRECT_MAP_LIMIT)
    PANIC("no %u KiB run of low frames for the buddy metadata", bytes >> 10);
  buddy_frames = P2V(pa);
  buddy_frames_phys = pa;
  memset(buddy_frames, 0xFF, bytes); /* no marks: RAM is not zero on real machines */
  krecord("BUDDY frames=%u bytes=%u at=%p max_order=%u\n", buddy_frame_count, bytes, (void *)pa,
          BUDDY_MAX_ORDER);
}
