/* The buddy lists behind the PMM (mm/buddy.c).  Shared between pmm.c (which
 * owns the bitmap and calls these after every change to it) and heap.c
 * (kmalloc_contig); not for use outside mm/.
 *
 * Every free frame below 4 GiB is in exactly one free block: 2^k frames
 * aligned to 2^k, k <= BUDDY_MAX_ORDER, inside one zone, on the list of its
 * zone and order, maximal (its buddy is not a free block of the same order).
 * Frames at or above 4 GiB (PAE) are single user frames only and stay in the
 * bitmap alone: no contiguous request can be served from there.
 *
 * Per-frame metadata, struct buddy_frame, 12 bytes a frame below 4 GiB
 * (0.3% of RAM: 384 KiB for 128 MiB), in one array allocated at boot after
 * the frame table, from the direct map.  Only the head of a free block uses
 * its links; every other frame has order BUDDY_NOT_HEAD. */
#pragma once

#include "mm/pmm.h"
#include "types.h"

#define BUDDY_ORDERS (BUDDY_MAX_ORDER + 1)
#define BUDDY_ZONES 16u         /* 2 per node: below the direct-map limit, above */
#define BUDDY_NONE 0xFFFFFFFFu  /* the end of a list */
#define BUDDY_NOT_HEAD 0xFFu    /* order of a frame that heads no free block */
#define BUDDY_CONTIG 0x80u      /* order | this: the head of a kmalloc_contig block */
#define BUDDY_BLOCK 0x40u       /* order | this: the head of a block allocate_block gave out */

struct buddy_frame {
  uint32_t next, prev; /* frame numbers on the free list (BUDDY_NONE at the ends) */
  uint8_t order;       /* a free block's head: its order; else BUDDY_NOT_HEAD (or a mark) */
  uint8_t zone;        /* node * 2 + (frame >= the direct-map limit) */
  uint16_t pad;
};

/* Fragmentation statistics, all zones together (the harness reads them). */
struct buddy_stats {
  uint32_t free_blocks[BUDDY_ORDERS]; /* blocks on the lists now */
  uint32_t splits[BUDDY_ORDERS];      /* blocks of this order split in two */
  uint32_t merges[BUDDY_ORDERS];      /* pairs of this order merged into one */
  uint32_t failures[BUDDY_ORDERS];    /* requests of this order that found no block */
  uint32_t repairs;                   /* lists rebuilt: a block was used in the bitmap */
};

extern struct buddy_stats buddy_stats;
extern struct buddy_frame *buddy_frames; /* indexed by frame number */
extern uint32_t buddy_frame_count;       /* frames it covers: min(frame_count, 4 GiB) */
extern paddr_t buddy_frames_phys;
/* The head of each free list: buddy_lists[zone][order], a frame number. */
extern uint32_t buddy_lists[BUDDY_ZONES][BUDDY_ORDERS];
extern bool buddy_ready; /* false until buddy_init: the bitmap alone until then */

/* Allocates the metadata (one record BUDDY frames= bytes= at=), from the
 * bitmap alone (pmm_buddy_init, after frame_table_init). */
void buddy_alloc_metadata(void);
/* Rebuilds every list from the bitmap (zones from frame_table[].node) and
 * the free_frames of every node below 4 GiB. */
void buddy_rebuild(void);

/* Frame pfn (free in the lists, below buddy_frame_count) is being taken:
 * the block holding it is removed and split, the rest goes back.  Out of
 * line: allocate_page's fast path stays small (inline, it costs more). */
void buddy_take_frame(uint32_t pfn);

/* -- the list operations, inline ------------------------------------------
 * allocate_block and free_block (mm/pmm.c) are a list operation and a
 * bitmap change each; inline here they compile into one function, without
 * the calls, spills and reloads that otherwise cost as much as the work.
 * The helpers take the metadata array and the zone's row of list heads
 * from their caller, which loads them once: the kernel is built with
 * -fno-strict-aliasing, so every store would otherwise make the compiler
 * reload both globals. */

static inline void buddy_push(struct buddy_frame *frames, uint32_t *lists, uint32_t pfn,
                              uint32_t order) {
  struct buddy_frame *f = &frames[pfn];
  uint32_t next = lists[order];
  f->order = (uint8_t)order;
  f->prev = BUDDY_NONE;
  f->next = next;
  if (next != BUDDY_NONE) frames[next].prev = pfn;
  lists[order] = pfn;
  buddy_stats.free_blocks[order]++;
}

static inline void buddy_unlink(struct buddy_frame *frames, uint32_t *lists, uint32_t pfn) {
  struct buddy_frame *f = &frames[pfn];
  uint32_t next = f->next, prev = f->prev, order = f->order;
  if (prev == BUDDY_NONE) lists[order] = next;
  else frames[prev].next = next;
  if (next != BUDDY_NONE) frames[next].prev = prev;
  buddy_stats.free_blocks[order]--;
  f->order = BUDDY_NOT_HEAD;
}

/* A frame's order and zone bytes as one number, to compare both at once. */
static inline uint32_t buddy_key(const struct buddy_frame *f) {
  return *(const uint16_t *)&f->order;
}

/* The free block [pfn, pfn + 2^order) (already clear in the bitmap) joins the
 * lists, merged with its buddies up to the zone's edge. */
static inline __attribute__((always_inline)) void buddy_give(uint32_t pfn, uint32_t order) {
  struct buddy_frame *frames = buddy_frames;
  uint32_t zone = frames[pfn].zone, *lists = buddy_lists[zone], count = buddy_frame_count;
  pmm_node_stats[zone >> 1].free_frames += 1u << order;
  frames[pfn].order = BUDDY_NOT_HEAD; /* a block's mark goes with it */
  while (order < BUDDY_MAX_ORDER) {
    uint32_t buddy = pfn ^ (1u << order);
    if (buddy >= count) break;
    if (buddy_key(&frames[buddy]) != (order | zone << 8)) break;
    buddy_unlink(frames, lists, buddy);
    buddy_stats.merges[order]++;
    pfn &= buddy;
    order++;
  }
  buddy_push(frames, lists, pfn, order);
}

/* Removes a block of exactly 2^order frames from the first zone in
 * [zone_from, zone_to) (stepping `step`) that has one of that order or
 * larger (splitting it), and returns its first frame, or BUDDY_NONE (the
 * caller counts the failure). */
static inline __attribute__((always_inline)) uint32_t buddy_take_block(uint32_t order, uint32_t zone_from, uint32_t zone_to,
                                        uint32_t step) {
  struct buddy_frame *frames = buddy_frames;
  for (uint32_t z = zone_from; z < zone_to; z += step) {
    uint32_t *lists = buddy_lists[z];
    for (uint32_t k = order; k <= BUDDY_MAX_ORDER; k++) {
      uint32_t pfn = lists[k];
      if (pfn == BUDDY_NONE) continue;
      /* The list's first block: no previous one to relink. */
      uint32_t next = frames[pfn].next;
      lists[k] = next;
      if (next != BUDDY_NONE) frames[next].prev = BUDDY_NONE;
      buddy_stats.free_blocks[k]--;
      frames[pfn].order = BUDDY_NOT_HEAD;
      pmm_node_stats[z >> 1].free_frames -= 1u << order;
      while (k > order) { /* the upper halves go back */
        buddy_stats.splits[k]++;
        k--;
        buddy_push(frames, lists, pfn + (1u << k), k);
      }
      return pfn;
    }
  }
  return BUDDY_NONE;
}

/* The order of the kmalloc_contig block headed by pfn, or -1. */
static inline int buddy_contig_order(uint32_t pfn) {
  if (!buddy_ready || pfn >= buddy_frame_count) return -1;
  uint8_t o = buddy_frames[pfn].order;
  return o != BUDDY_NOT_HEAD && (o & BUDDY_CONTIG) ? (int)(o & ~BUDDY_CONTIG) : -1;
}

/* The node a buddy-covered frame belongs to. */
static inline uint32_t buddy_node_of(uint32_t pfn) { return buddy_frames[pfn].zone >> 1; }
