/* The buddy allocator's per-order maps (mm/buddy.c), behind pmm.c's public
 * calls.  Shared between pmm.c (the bitmap and the public calls) and heap.c;
 * not for use outside mm/.  The harness reads the globals below.
 *
 * The frame bitmap is the one truth.  A free block of order k is 2^k free
 * frames aligned to 2^k inside one zone; it is maximal when its aligned
 * buddy is not also free in that zone (or k == BUDDY_MAX_ORDER).  For each
 * order k, buddy_map[k][0] has a bit for every maximal free block of order
 * k, except the exempt ones tied to the hint word W (pmm_hint):
 *   1. W's blocks of order <= 4: read from pmm_bitmap[W] when needed;
 *   2. W's own block, when W is empty and lies in one zone: its maximal
 *      block (order >= 5, headed by W's first frame); buddy_hint_order is
 *      its order, else 0;
 *   3. the front: bit i (5 <= i) of buddy_front_mask set when B_i(W), the
 *      buddy of the aligned 2^i block holding W, is a maximal block of
 *      order i (it is then not in map i).
 * Why: allocate_page takes W's lowest free frame and free_page of it goes
 * back to W, so with W's blocks out of the maps the page path touches the
 * bitmap alone.  When W is empty, taking a frame splits W's own block of
 * order j into W and exactly the front blocks B_5(W)..B_{j-1}(W), so the
 * split (and the merge when W empties again) is one mask operation.
 *
 * Map indexing: orders 0..4 ("small"): bit = the block's first frame (one
 * bit a frame, so a bitmap word's small blocks of order k are map word for
 * word); orders 5..10: bit = first frame >> k.  buddy_map[k][l], l >= 1, are
 * summaries: bit j set when word j of level l - 1 is non-zero; the top
 * level is one word.
 *
 * Zones: zone(f) = frame_table[f].node * 2 + (f >= the direct-map limit),
 * for frames below buddy_frame_count (min(frame count, 4 GiB)).  Frames at
 * or above 4 GiB (PAE) are single user frames in the bitmap alone. */
#pragma once

#include "mm/frame.h"
#include "mm/pmm.h"
#include "types.h"

#define BUDDY_ORDERS (BUDDY_MAX_ORDER + 1)
#define BUDDY_MAP_LEVELS 5 /* 32^4 bits: enough for 2^20 frames */
#define BUDDY_SMALL 5      /* orders below this lie inside one bitmap word */
#define BUDDY_NONE 0xFFFFFFFFu

/* Statistics (the harness reads them).  Splits, merges and free block
 * counts are not kept: the page path would pay for them.  buddy_free_blocks
 * computes the counts on demand. */
struct buddy_stats {
  uint32_t failures[BUDDY_ORDERS]; /* allocate_block/allocate_pages requests that found no block */
  uint32_t repairs;                /* maps rebuilt: a mapped block was used in the bitmap */
};
extern struct buddy_stats buddy_stats;

extern uint32_t buddy_frame_count; /* frames the maps cover: min(frame_count, 2^20) */
extern uint32_t *buddy_map[BUDDY_ORDERS][BUDDY_MAP_LEVELS];
extern uint32_t buddy_map_words[BUDDY_ORDERS][BUDDY_MAP_LEVELS];
extern uint32_t buddy_map_levels[BUDDY_ORDERS];
extern uint32_t buddy_front_mask, buddy_hint_order;
extern paddr_t buddy_maps_phys;  /* the map area: maps, summaries, per-word tables */
extern uint32_t buddy_maps_bytes;
extern bool buddy_ready; /* false until pmm_buddy_init: the bitmap alone until then */

/* Free blocks of that order now, all zones (popcount of the map plus the
 * exempt blocks); 0 for an order above the maximum. */
uint32_t buddy_free_blocks(uint32_t order);

/* -- pmm.c's bitmap, for buddy.c ------------------------------------------ */
extern uint32_t pmm_hint; /* the hint word W, or BUDDY_NONE: none free below 4 GiB */
extern uint32_t *levels[];   /* levels[0] == pmm_bitmap, then the "word full" summaries */
extern uint32_t level_count;
/* Word wi of level k - 1 just became full (was full and no longer is): its
 * bit at level k, and up while that fills (unfills) a word too. */
void pmm_summary_set_full_at(uint32_t k, uint32_t wi);
void pmm_summary_clear_full_at(uint32_t k, uint32_t wi);
uint32_t pmm_first_free_low_word(void);   /* the lowest non-full word below 4 GiB, or NONE */

/* Words [wi, wi + n) of a 32-word group (n a power of two up to 32, wi
 * aligned to it) as a mask of its bits: in a level-1 summary word, or in
 * buddy.c's one-bit-a-word tables. */
static inline uint32_t pmm_words_mask(uint32_t wi, uint32_t n) {
  return (0xFFFFFFFFu >> (32 - n)) << (wi % 32); /* n one bits with no test for n == 32 */
}

/* Level-0 words `mask` of group wi / 32 (pmm_words_mask) all just became
 * full (used) or empty: they share one level-1 word, so that is one store,
 * and one bit further up if that word fills or unfills.  A block of whole
 * words is such a run. */
static inline void pmm_words_changed(uint32_t wi, uint32_t mask, bool used) {
  if (level_count == 1) return;
  uint32_t *l1 = &levels[1][wi / 32];
  uint32_t w = *l1;
  if (used) {
    *l1 = w | mask;
    if ((w | mask) == 0xFFFFFFFFu) pmm_summary_set_full_at(2, wi / 32);
  } else {
    *l1 = w & ~mask;
    if (w == 0xFFFFFFFFu) pmm_summary_clear_full_at(2, wi / 32);
  }
}

/* Frames change between free and used: the node counters follow, but only
 * with several nodes (with one, readers take pmm_stats.free_frames; see
 * pmm_node_free).  n frames of one node (a block never crosses a zone). */
static inline void pmm_node_account(uint32_t pfn, int32_t n) {
  if (__builtin_expect(pmm_node_count > 1, 0)) pmm_node_stats[frame_table[pfn].node].free_frames += (uint32_t)n;
}

/* The OR, the AND of words [0, n) of map, and storing v in them; n a power
 * of two (a block of whole words), 8 words a round from 8 on: a block's
 * words cost one instruction each, not a loop's four. */
static inline uint32_t buddy_words_or(const uint32_t *map, uint32_t n) {
  uint32_t acc = 0;
  if (n < 8) {
    for (uint32_t i = 0; i < n; i++) acc |= map[i];
    return acc;
  }
  const uint32_t *end = map + n;
  do /* n >= 8: at least one round, no test before it */
    acc |= map[0] | map[1] | map[2] | map[3] | map[4] | map[5] | map[6] | map[7];
  while ((map += 8) < end);
  return acc;
}
static inline uint32_t buddy_words_and(const uint32_t *map, uint32_t n) {
  uint32_t acc = 0xFFFFFFFFu;
  if (n < 8) {
    for (uint32_t i = 0; i < n; i++) acc &= map[i];
    return acc;
  }
  const uint32_t *end = map + n;
  do
    acc &= map[0] & map[1] & map[2] & map[3] & map[4] & map[5] & map[6] & map[7];
  while ((map += 8) < end);
  return acc;
}
static inline void buddy_words_set(uint32_t *map, uint32_t n, uint32_t v) {
  if (n < 8) {
    for (uint32_t i = 0; i < n; i++) map[i] = v;
    return;
  }
  uint32_t *end = map + n;
  do
    map[0] = map[1] = map[2] = map[3] = map[4] = map[5] = map[6] = map[7] = v;
  while ((map += 8) < end);
}

/* -- the operations (mm/buddy.c) -------------------------------------------
 * Frames are numbers below buddy_frame_count.  The bitmap changes go
 * through these too, so that maps and bitmap change together. */

/* Allocates the map area (one record BUDDY maps= at= frames=), from the
 * bitmap alone, then builds the maps (pmm_buddy_init). */
void buddy_init(void);
/* The maps from the bitmap and the zones (frame_table[].node), O(words):
 * pmm_set_nodes, and a repair. */
void buddy_rebuild(void);

/* The hint moves to word `to` (a word below it became non-full, or W
 * filled): W's exempt blocks go into the maps, the new word's come out.
 * `adopt`: `to` was not full before (its small blocks are in the maps). */
void buddy_move_hint(uint32_t to, bool adopt);
/* W was just emptied by a free (all 32 frames free): its own block forms. */
void buddy_hint_word_emptied(uint32_t wi);
/* W, empty with its own block, gets its first frame taken: the block
 * splits, its upper halves become the front. */
static inline void buddy_hint_word_split(void) {
  if (buddy_hint_order) {
    buddy_front_mask |= ((1u << buddy_hint_order) - 1) & ~31u;
    buddy_hint_order = 0;
  }
}
/* Frame pfn, in word wi above W, just became free in the bitmap (the word's
 * summaries fixed): its block merges into the maps. */
void buddy_frame_freed_above(uint32_t wi, uint32_t pfn);
/* Frame pfn (free, below buddy_frame_count, outside the hint word) is
 * taken: its block splits down to it; bitmap, free count and summaries
 * follow (the hint does not move: pfn is above it). */
void buddy_take_frame(uint32_t pfn);

/* A block of 2^k frames (k <= BUDDY_MAX_ORDER) from zones zone, zone + 2,
 * ... below 2 * pmm_node_count: the first zone with a block of order >= k,
 * its smallest such order, the lowest such block; taken in the bitmap.
 * Its first frame, or BUDDY_NONE. */
uint32_t buddy_alloc(uint32_t k, uint32_t zone);
/* Block [pfn, pfn + 2^k), k <= BUDDY_MAX_ORDER, aligned, inside the maps,
 * freed if it is wholly used, holds no reserved frame and lies in one zone:
 * true.  False: nothing changed (the caller frees frame by frame). */
bool buddy_free(uint32_t pfn, uint32_t k);
/* The hint word h just filled: its summary, and the hint moves on. */
void buddy_hint_word_filled(uint32_t h);

/* -- the hint word's fast paths, inline in allocate_block and free_block ----
 * With one zone, a request of order k <= 4 that the hint word holds a
 * maximal block of exactly that order for takes that block's lower 2^k
 * frames (it is the lowest block of the smallest order: every word below W
 * is full), and a free of a small block inside W only clears its bits:
 * W's blocks are in no map.  Everything else goes out of line. */
extern bool buddy_one_zone; /* the maps exist and cover a single zone */
extern uint32_t *buddy_map_top[BUDDY_ORDERS]; /* each map's top summary word (or the map's one word) */

/* 2^k one bits (k <= 4): a small block's frames in its word (a table: one
 * load, where computing it costs three shifts). */
static const uint32_t buddy_runs[BUDDY_SMALL] = {0x1u, 0x3u, 0xFu, 0xFFu, 0xFFFFu};

/* The first frame of the block taken, or BUDDY_NONE: not this case.  For
 * each order j from k up to 4: W's maximal blocks of order j, the lowest
 * of them if any; else, if map j has a block (its top word is non-zero),
 * that one is the choice: out of line. */
static inline uint32_t buddy_alloc_hint_word(uint32_t k) {
  uint32_t h = pmm_hint;
  if (__builtin_expect(k >= BUDDY_SMALL || h == BUDDY_NONE || !buddy_one_zone, 0)) return BUDDY_NONE;
  uint32_t w = pmm_bitmap[h], p = ~w, q, m;
  /* p_j: bit i set when frames i .. i + 2^j - 1 are free, i aligned to 2^j;
   * p_{j+1} = p_j & p_j >> 2^j & (bits at multiples of 2^(j+1)), and the
   * maximal blocks of order j are p_j & ~(p_{j+1} | p_{j+1} << 2^j).  One
   * jump to order k with p = p_k, then up the orders. */
#define BUDDY_P1(p) ((p) & ((p) >> 1) & 0x55555555u)
#define BUDDY_P2(p) ((p) & ((p) >> 2) & 0x11111111u)
#define BUDDY_P3(p) ((p) & ((p) >> 4) & 0x01010101u)
#define BUDDY_P4(p) ((p) & ((p) >> 8) & 0x00010001u)
  switch (k) {
  case 0: goto order0;
  case 1: p = BUDDY_P1(p); goto order1;
  case 2: p = BUDDY_P2(BUDDY_P1(p)); goto order2;
  case 3: p = BUDDY_P3(BUDDY_P2(BUDDY_P1(p))); goto order3;
  default: p = BUDDY_P4(BUDDY_P3(BUDDY_P2(BUDDY_P1(p)))); goto order4;
  }
order0:
  q = BUDDY_P1(p);
  if ((m = p & ~(q | q << 1))) goto hit;
  if (*buddy_map_top[0]) return BUDDY_NONE; /* a block of order 0 elsewhere: the smaller */
  p = q;
order1:
  q = BUDDY_P2(p);
  if ((m = p & ~(q | q << 2))) goto hit;
  if (*buddy_map_top[1]) return BUDDY_NONE;
  p = q;
order2:
  q = BUDDY_P3(p);
  if ((m = p & ~(q | q << 4))) goto hit;
  if (*buddy_map_top[2]) return BUDDY_NONE;
  p = q;
order3:
  q = BUDDY_P4(p);
  if ((m = p & ~(q | q << 8))) goto hit;
  if (*buddy_map_top[3]) return BUDDY_NONE;
  p = q;
order4:
  q = p & (p >> 16) & 1u;
  if (!(m = p & ~(q | q << 16))) return BUDDY_NONE; /* the word is empty: its own block */
hit:;
#undef BUDDY_P1
#undef BUDDY_P2
#undef BUDDY_P3
#undef BUDDY_P4
  uint32_t pos = (uint32_t)__builtin_ctz(m);
  w |= buddy_runs[k] << pos; /* the block's lower 2^k frames; the upper halves stay in W */
  pmm_bitmap[h] = w;
  pmm_stats.free_frames -= 1u << k;
  pmm_node_account(h * 32 + pos, -(int32_t)(1u << k));
  if (__builtin_expect(w == 0xFFFFFFFFu, 0)) buddy_hint_word_filled(h);
  return h * 32 + pos;
}

/* Whether block [pfn, pfn + 2^k) was freed here: a small block of W,
 * aligned, wholly used, without a reserved frame. */
static inline bool buddy_free_hint_word(uint32_t pfn, uint32_t k) {
  uint32_t wi = pfn / 32;
  if (__builtin_expect(wi != pmm_hint || k >= BUDDY_SMALL || !buddy_one_zone, 0)) return false;
  uint32_t n = 1u << k, mask = buddy_runs[k] << (pfn % 32), w = pmm_bitmap[wi];
  /* aligned; every frame used and none reserved: one test */
  if (__builtin_expect((pfn & (n - 1)) || ((~w | pmm_reserved[wi]) & mask), 0)) return false;
  uint32_t now = w ^ mask;
  pmm_bitmap[wi] = now;
  pmm_stats.free_frames += n;
  pmm_node_account(pfn, (int32_t)n);
  if (__builtin_expect(!now, 0)) buddy_hint_word_emptied(wi);
  return true;
}
