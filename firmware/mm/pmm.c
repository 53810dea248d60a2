/* Physical frames in a bitmap, lowest free frame first, O(1) per operation.
 *
 * The seed design scanned the bitmap bit by bit from frame 0 on every
 * allocation: O(frames), ~100k instructions at half occupancy on 128 MiB.
 * Here the frame bitmap (level 0, bit set = frame used) has summary levels on
 * top: bit j of level k is set when word j of level k-1 is full.  Each level
 * is 32 times smaller; the top level is a single word (4 levels cover 4 GiB,
 * 5 the 64 GiB PAE can address).
 *
 * Two zones.  allocate_page hands out frames below 4 GiB only (its result is
 * a 32-bit address, and kernel tables, PDPTs and stacks must be there).
 * pmm_alloc_user_frame takes from the top zone first (the lowest free frame
 * at or above 4 GiB, else at or above the direct-map limit, else the lowest
 * free frame): user pages go where the kernel needs nothing, as Linux's
 * HIGHUSER.  Frames above 4 GiB exist only in PAE mode and travel as frame
 * numbers (pfn_t).
 *
 * The hint word W (`pmm_hint`) is the index of the lowest level-0 word below
 * 4 GiB that has a free bit, always exact (NONE when there is none).
 * allocate_page takes the lowest free bit of that word; only when the word
 * fills up does it descend the summary levels (one ctz per level) to find
 * the next non-full word.  free_page clears the bit, clears the summary bits
 * that were set because the word was full, and lowers the hint.  Both are
 * O(levels) = O(1) at any occupancy.
 *
 * A second bitmap of the same shape marks frames that are never allocatable
 * (holes, the first MiB, the kernel, modules, these bitmaps), so freeing one
 * is detected with a single bit test.
 *
 * Buddy blocks (mm/buddy.h, buddy.c) are kept, from pmm_buddy_init on, as
 * one map per order of the maximal free blocks below 4 GiB, each changed
 * together with the bitmap.  The hint word's own blocks (and, when it is
 * empty, the whole-word blocks it splits into: its "front") are exempt from
 * the maps and read from the bitmap: allocate_page and a free_page back
 * into W therefore change the bitmap word and the free count and nothing
 * else, as before there were buddy blocks.  Only a free outside W (a merge
 * in the maps), W filling up or a free below it (the hint moves: W's blocks
 * go into the maps, the new word's come out) pay for the maps.
 * allocate_block and allocate_pages take a whole block: the lowest of the
 * smallest order that fits, in the first zone that has one.
 *
 * Nodes: one until pmm_set_nodes.  Zones: each node's frames below the
 * direct-map limit, and between it and 4 GiB; blocks never cross a zone.
 * pmm_node_stats[].free_frames is kept only with several nodes (with one
 * the page path would pay for a copy of pmm_stats.free_frames). */
#include "mm/pmm.h"
#include "kernel/bootinfo.h"
#include "kernel/kprintf.h"
#include "kernel/panic.h"
#include "arch/i386/multiboot.h"
#include "lib/string.h"
#include "memlayout.h"
#include "mm/vmm.h"
#include "mm/buddy.h"
#include "mm/frame.h"
#include "mm/numa.h"
#include "mm/pcp.h"

#define WORD_BITS 32u
#define FULL 0xFFFFFFFFu
#define MAX_LEVELS 5                  /* 32^5 frames = 128 GiB: past PAE's 64 GiB */
#define LOW_WORDS (0x100000u / WORD_BITS) /* level-0 words below 4 GiB (2^20 frames) */
#define NONE 0xFFFFFFFFu
#define LOW_MEMORY_END 0x100000u      /* the first MiB stays reserved */
#define MIN_FREE_BYTES (2u << 20)     /* kernel page tables (1 MiB) and room to work */

struct pmm_stats pmm_stats;
struct spinlock pmm_lock = SPINLOCK_INIT(LOCK_PMM);
uint32_t *pmm_bitmap;
uint32_t *pmm_reserved;
paddr_t pmm_bitmap_phys;
uint32_t pmm_bitmap_bytes;

uint32_t *levels[MAX_LEVELS]; /* levels[0] == pmm_bitmap; shared with buddy.c */
static uint32_t level_words[MAX_LEVELS];
uint32_t level_count;
uint32_t pmm_hint; /* the hint word W: lowest level-0 word below 4 GiB with a free bit, or NONE */
/* Level-0 words allocate_page may take from: below 4 GiB and in the bitmap. */
static uint32_t low_words;

uint32_t pmm_node_count = 1;
struct pmm_node_stats pmm_node_stats[NUMA_MAX_NODES];

/* The node of every frame as [start, end) pieces covering all frames in
 * order (SRAT ranges, and node 0 for the gaps), for per-node searches. */
struct node_piece {
  uint32_t start, end, node;
};
static struct node_piece pieces[2 * NUMA_MAX_RANGES + 1];
static uint32_t piece_count;

static inline uint32_t ctz(uint32_t x) { return (uint32_t)__builtin_ctz(x); }

static uint32_t popcount(uint32_t x) {
  x = x - ((x >> 1) & 0x55555555u);
  x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
  return (((x + (x >> 4)) & 0x0F0F0F0Fu) * 0x01010101u) >> 24;
}

static uint32_t count_set(const uint32_t *map) {
  uint32_t n = 0;
  for (uint32_t j = 0; j < level_words[0]; j++) n += popcount(map[j]);
  return n;
}

static inline bool test_bit(const uint32_t *map, uint32_t i) {
  return map[i / WORD_BITS] & (1u << (i % WORD_BITS));
}

/* Sets or clears bits [from, to) of a bitmap, a word at a time where it can. */
static void set_range(uint32_t *map, uint32_t from, uint32_t to, bool value) {
  while (from < to && from % WORD_BITS) {
    if (value) map[from / WORD_BITS] |= 1u << (from % WORD_BITS);
    else map[from / WORD_BITS] &= ~(1u << (from % WORD_BITS));
    from++;
  }
  for (; from + WORD_BITS <= to; from += WORD_BITS) map[from / WORD_BITS] = value ? FULL : 0;
  for (; from < to; from++) {
    if (value) map[from / WORD_BITS] |= 1u << (from % WORD_BITS);
    else map[from / WORD_BITS] &= ~(1u << (from % WORD_BITS));
  }
}

/* -- the summaries and the hint --------------------------------------------- */

/* Word wi of level k - 1 just became full: set its bit at level k, and up
 * while that fills a word too. */
void pmm_summary_set_full_at(uint32_t k, uint32_t wi) {
  for (; k < level_count; k++) {
    uint32_t *w = &levels[k][wi / WORD_BITS];
    *w |= 1u << (wi % WORD_BITS);
    if (*w != FULL) return;
    wi /= WORD_BITS;
  }
}

/* Word wi of level k - 1 was full and no longer is: clear its bit at level
 * k, and up while that word was full. */
void pmm_summary_clear_full_at(uint32_t k, uint32_t wi) {
  for (; k < level_count; k++) {
    uint32_t *w = &levels[k][wi / WORD_BITS];
    bool was_full = *w == FULL;
    *w &= ~(1u << (wi % WORD_BITS));
    if (!was_full) return;
    wi /= WORD_BITS;
  }
}

/* Level-0 word wi just became full (or was full and no longer is). */
static void summary_set_full(uint32_t wi) { pmm_summary_set_full_at(1, wi); }
static void summary_clear_full(uint32_t wi) { pmm_summary_clear_full_at(1, wi); }

/* The lowest level-0 word with a free bit: one ctz per summary level.  If the
 * summaries disagree with level 0 (its bits were set behind the allocator's
 * back, e.g. poked by a debugger), they are repaired and the descent retried,
 * so a frame marked used is never handed out. */
static uint32_t first_free_word(void) {
  for (;;) {
    uint32_t i = 0;
    for (uint32_t k = level_count - 1; k > 0; k--) {
      uint32_t w = levels[k][i];
      if (w == FULL) return NONE;
      i = i * WORD_BITS + ctz(~w);
    }
    if (levels[0][i] != FULL) return i;
    if (level_count == 1) return NONE;
    summary_set_full(i);
  }
}

/* The next hint: the lowest non-full word, if it lies below 4 GiB. */
uint32_t pmm_first_free_low_word(void) {
  uint32_t wi = first_free_word();
  return wi < low_words ? wi : NONE;
}

/* The hint moves to word `to`; with the maps, the old word's exempt blocks
 * go into them and the new one's come out (`adopt`: `to` was not full). */
static void set_hint(uint32_t to, bool adopt) {
  if (buddy_ready) buddy_move_hint(to, adopt);
  else pmm_hint = to;
}

/* -- taking frames ------------------------------------------------------------ */

/* Frame `frame` of the hint word, free, becomes used.  The word's blocks are
 * in no map, so only the bitmap changes, unless the word was empty (its own
 * block splits: the front, one mask) or fills (the hint moves on). */
static void take_in_hint_word(uint32_t frame) {
  uint32_t wi = frame / WORD_BITS;
  buddy_hint_word_split();
  uint32_t w = pmm_bitmap[wi] | 1u << (frame % WORD_BITS);
  pmm_bitmap[wi] = w;
  pmm_stats.free_frames--;
  pmm_node_account(frame, -1);
  if (w == FULL) {
    summary_set_full(wi);
    set_hint(pmm_first_free_low_word(), true);
  }
}

/* Any free frame becomes used: in the hint word as above; elsewhere below
 * 4 GiB its block in the maps splits down to it; above 4 GiB (or before the
 * maps exist) the bitmap alone. */
static void take(uint32_t frame) {
  uint32_t wi = frame / WORD_BITS;
  if (wi == pmm_hint) return take_in_hint_word(frame);
  if (buddy_ready && frame < buddy_frame_count) return buddy_take_frame(frame);
  pmm_bitmap[wi] |= 1u << (frame % WORD_BITS);
  pmm_stats.free_frames--;
  pmm_node_account(frame, -1);
  if (pmm_bitmap[wi] == FULL) summary_set_full(wi);
}

/* Everything allocate_page does not do inline: the hint word is empty (its
 * own block splits) or fills up (or was found full), or memory is
 * exhausted.  After a repair the word taken from is a different one, with
 * any number of free bits: whether it is now full is read from the word,
 * never assumed. */
static __attribute__((noinline)) void *allocate_slow(void) {
  for (;;) {
    uint32_t wi = pmm_hint;
    if (wi >= low_words) { /* none free below 4 GiB */
      pmm_stats.failed_allocations++;
      return NULL;
    }
    uint32_t w = pmm_bitmap[wi];
    if (w == FULL) { /* filled behind our back (see first_free_word) */
      summary_set_full(wi);
      set_hint(pmm_first_free_low_word(), true);
      continue;
    }
    uint32_t pfn = wi * WORD_BITS + ctz(~w);
    take_in_hint_word(pfn);
    return (void *)(pfn << FRAME_SHIFT);
  }
}

/* The lowest free bit of the hint word, when the word neither was empty nor
 * fills: the bitmap word and the free count, nothing else. */
static inline __attribute__((always_inline)) void *alloc_lowest(void) {
  uint32_t wi = pmm_hint;
  if (__builtin_expect(wi < low_words, 1)) { /* NONE is above any limit */
    uint32_t w = pmm_bitmap[wi];
    uint32_t now = w | (w + 1); /* sets the lowest clear bit */
    if (__builtin_expect(now != FULL && w != 0, 1)) {
      pmm_bitmap[wi] = now;
      pmm_stats.free_frames--;
      uint32_t pfn = wi * WORD_BITS + ctz(~w);
      pmm_node_account(pfn, -1);
      return (void *)(pfn << FRAME_SHIFT);
    }
  }
  return allocate_slow();
}

void *pmm_alloc_lowest(void) { return alloc_lowest(); }

/* With `pcp=on` through this CPU's frame cache (mm/pcp.h), which refills
 * from pmm_alloc_lowest. */
void *allocate_page(void) {
  if (__builtin_expect(pcp_enabled, 0)) return pcp_alloc();
  return alloc_lowest();
}

/* The lowest run of n free frames below 4 GiB (first fit), by scanning the
 * bitmap: O(frames).  Only before the maps exist (the frame table and the
 * maps' own area) and for runs longer than the largest block. */
static void *allocate_run(uint32_t n) {
  uint32_t run = 0, start = 0;
  uint32_t limit = low_words * WORD_BITS; /* below 4 GiB, as allocate_page */
  for (uint32_t f = pmm_hint >= low_words ? limit : pmm_hint * WORD_BITS; f < limit;) {
    uint32_t w = pmm_bitmap[f / WORD_BITS];
    if (f % WORD_BITS == 0 && (w == 0 || w == FULL)) { /* a whole word at once */
      if (w == FULL) {
        run = 0;
      } else {
        if (run == 0) start = f;
        run += WORD_BITS;
      }
      f += WORD_BITS;
    } else {
      if (w & (1u << (f % WORD_BITS))) {
        run = 0;
      } else {
        if (run == 0) start = f;
        run++;
      }
      f++;
    }
    if (run >= n) {
      for (uint32_t i = start; i < start + n; i++) take(i);
      return (void *)(start << FRAME_SHIFT);
    }
  }
  pmm_stats.failed_allocations++;
  return NULL;
}

static uint32_t order_for(uint32_t n) {
  uint32_t order = 0;
  while ((1u << order) < n) order++;
  return order;
}

void *allocate_pages(uint32_t n) {
  if (n <= 1) return n ? allocate_page() : NULL;
  if (!buddy_ready || n > (1u << BUDDY_MAX_ORDER)) return allocate_run(n);
  /* A block of the next power of two, below the direct-map limit if any
   * zone there has one, else up to 4 GiB; the frames past n go back, the
   * largest aligned pieces first. */
  uint32_t order = order_for(n);
  uint32_t pfn = buddy_alloc(order, 0);
  if (pfn == BUDDY_NONE) pfn = buddy_alloc(order, 1);
  if (pfn == BUDDY_NONE) {
    buddy_stats.failures[order]++;
    pmm_stats.failed_allocations++;
    return NULL;
  }
  for (uint32_t at = pfn + n, end = pfn + (1u << order); at < end;) {
    uint32_t k = ctz(at - pfn); /* the largest aligned block at `at` that fits */
    buddy_free(at, k);          /* just taken: whole, unreserved, one zone */
    at += 1u << k;
  }
  return (void *)(pfn << FRAME_SHIFT);
}

/* allocate_block found nothing (or the order is too large, or there are no
 * maps yet): counted, out of line. */
static __attribute__((noinline)) void *allocate_block_failed(uint32_t order) {
  if (order <= BUDDY_MAX_ORDER) buddy_stats.failures[order]++;
  pmm_stats.failed_allocations++;
  return NULL;
}

void *allocate_block(uint32_t order) {
  uint32_t pfn = buddy_alloc_hint_word(order);
  if (pfn == BUDDY_NONE && buddy_ready && order <= BUDDY_MAX_ORDER) pfn = buddy_alloc(order, 0);
  if (__builtin_expect(pfn == BUDDY_NONE, 0)) return allocate_block_failed(order);
  return (void *)(pfn << FRAME_SHIFT);
}

/* -- freeing frames ------------------------------------------------------------ */

/* addr is 64-bit: a frame freed by number may lie above 4 GiB. */
static void refuse(const char *kind, uint32_t *counter, uint64_t addr, vaddr_t caller) {
  (*counter)++;
  pmm_stats.last_error_caller = caller;
  if (addr >> 32)
    krecord("PMM error=%s addr=0x%x%08x caller=%p\n", kind, (uint32_t)(addr >> 32),
            (uint32_t)addr, (void *)caller);
  else
    krecord("PMM error=%s addr=%p caller=%p\n", kind, (void *)(paddr_t)addr, (void *)caller);
}

void pmm_refuse_double_free(paddr_t pa, vaddr_t caller) {
  refuse("double-free", &pmm_stats.double_frees, pa, caller);
}

/* The checked path: bad input is refused here; a free outside the hint
 * word merges in the maps, one below it moves the hint. */
static __attribute__((noinline)) void free_slow(uint64_t addr, vaddr_t caller) {
  if (addr & (FRAME_SIZE - 1))
    return refuse("unaligned", &pmm_stats.unaligned_frees, addr, caller);
  if (addr >> FRAME_SHIFT >= pmm_stats.frame_count)
    return refuse("out-of-range", &pmm_stats.out_of_range_frees, addr, caller);
  uint32_t frame = (uint32_t)(addr >> FRAME_SHIFT);
  if (test_bit(pmm_reserved, frame))
    return refuse("reserved", &pmm_stats.reserved_frees, addr, caller);
  uint32_t wi = frame / WORD_BITS, bit = 1u << (frame % WORD_BITS);
  uint32_t w = pmm_bitmap[wi], now = w & ~bit;
  if (!(w & bit)) return refuse("double-free", &pmm_stats.double_frees, addr, caller);
  pmm_bitmap[wi] = now;
  pmm_stats.free_frames++;
  pmm_node_account(frame, 1);
  if (w == FULL) summary_clear_full(wi);
  if (wi >= low_words) return; /* above 4 GiB: the bitmap alone */
  if (!buddy_ready) {
    if (wi < pmm_hint) pmm_hint = wi;
    return;
  }
  if (wi < pmm_hint) { /* the word was full: the frame is the new hint word's only block */
    buddy_move_hint(wi, false);
    if (!now) buddy_hint_word_emptied(wi); /* a word of one free frame (reserved or cut ones) */
  } else if (wi == pmm_hint) {
    if (!now) buddy_hint_word_emptied(wi);
  } else {
    buddy_frame_freed_above(wi, frame);
  }
}

/* The fast path: a used, unreserved frame of the hint word (so in range).
 * The word's blocks are in no map: the bitmap word and the free count,
 * unless the word empties (its own block forms: one mask on the front).
 * Anything else goes to free_slow, which changes nothing it has not
 * checked. */
static inline bool free_fast(uint32_t frame) {
  if (__builtin_expect(frame / WORD_BITS != pmm_hint, 0)) return false;
  /* bt/btr test and clear a bit anywhere in a bitmap in one instruction,
   * which keeps this path short; "memory": btr writes the word holding the
   * bit, not pmm_bitmap[0]. */
  bool reserved, was_used;
  __asm__("bt %2, %1" : "=@ccc"(reserved) : "m"(*pmm_reserved), "r"(frame));
  if (__builtin_expect(reserved, 0)) return false;
  __asm__ volatile("btr %2, %1" : "=@ccc"(was_used), "+m"(*pmm_bitmap) : "r"(frame) : "memory");
  if (__builtin_expect(!was_used, 0)) return false; /* was free already: nothing changed */
  pmm_stats.free_frames++;
  pmm_node_account(frame, 1);
  if (__builtin_expect(!pmm_bitmap[frame / WORD_BITS], 0) && buddy_ready) buddy_hint_word_emptied(frame / WORD_BITS);
  return true;
}

static inline void free_checked(paddr_t pa, vaddr_t caller) {
  if (__builtin_expect((pa & (FRAME_SIZE - 1)) || !free_fast(pa >> FRAME_SHIFT), 0))
    free_slow(pa, caller);
}

/* With `pcp=on` into this CPU's frame cache, which drains to pmm_free_lowest. */
void free_page(void *page) {
  if (__builtin_expect(pcp_enabled, 0)) return pcp_free_from(page, CALLER());
  free_checked((paddr_t)page, CALLER());
}

void pmm_free_lowest(paddr_t pa, vaddr_t caller) { free_checked(pa, caller); }

void free_pages(void *page, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) free_checked((paddr_t)page + i * FRAME_SIZE, CALLER());
}

/* free_block of anything but a whole used block: nothing if no block is
 * that large, else frame by frame, each refused or freed as free_page. */
static __attribute__((noinline)) void free_block_checked(paddr_t pa, uint32_t order,
                                                         vaddr_t caller) {
  if (order > BUDDY_MAX_ORDER)
    return refuse("out-of-range", &pmm_stats.out_of_range_frees, pa, caller);
  for (uint32_t i = 0; i < 1u << order; i++) free_checked(pa + i * FRAME_SIZE, caller);
}

void free_block(void *block, uint32_t order) {
  paddr_t pa = (paddr_t)block;
  uint32_t pfn = pa >> FRAME_SHIFT;
  if (__builtin_expect(!(pa & (FRAME_SIZE - 1)), 1)) {
    if (__builtin_expect(buddy_free_hint_word(pfn, order), 1)) return;
    /* buddy_free checks the rest: aligned, wholly used, no reserved frame,
     * one zone; else nothing changed and it goes frame by frame */
    if (buddy_ready && order <= BUDDY_MAX_ORDER && pfn < buddy_frame_count && buddy_free(pfn, order))
      return;
  }
  free_block_checked(pa, order, CALLER());
}

void pmm_free_frame(pfn_t pfn) {
  if (!free_fast(pfn)) free_slow((uint64_t)pfn << FRAME_SHIFT, CALLER());
}

/* -- user frames ------------------------------------------------------------- */

/* The lowest level-0 word at or after `from` with a free bit, or NONE: up
 * the summary levels until one has a non-full word to the right, then down
 * (one ctz per level each way). */
static uint32_t next_free_word(uint32_t from) {
  for (;;) {
    if (from >= level_words[0]) return NONE;
    if (pmm_bitmap[from] != FULL) return from;
    uint32_t j = from + 1, k = 1, found = NONE; /* j: a word index of level k-1 */
    for (; k < level_count; k++) {
      uint32_t wi = j / WORD_BITS;
      if (wi >= level_words[k]) return NONE;
      uint32_t open = ~levels[k][wi] & (FULL << (j % WORD_BITS));
      if (open) {
        found = wi * WORD_BITS + ctz(open);
        break;
      }
      j = wi + 1;
    }
    if (found == NONE) return NONE;
    for (uint32_t d = k - 1; d > 0; d--) found = found * WORD_BITS + ctz(~levels[d][found]);
    if (found >= level_words[0]) return NONE;
    if (pmm_bitmap[found] != FULL) return found;
    summary_set_full(found); /* filled behind our back: repair, search again */
  }
}

pfn_t pmm_alloc_user_frame(void) {
  if (pmm_node_count > 1) return numa_alloc_user_frame();
  /* Zones from the top: 4 GiB and up, the direct-map limit and up, all. */
  const uint32_t zones[] = {LOW_WORDS, DIRECT_MAP_LIMIT / FRAME_SIZE / WORD_BITS, 0};
  uint32_t wi = NONE;
  for (uint32_t z = 0; z < ARRAY_SIZE(zones) && wi == NONE; z++)
    wi = zones[z] == 0 ? pmm_hint : next_free_word(zones[z]);
  if (wi == NONE) {
    pmm_stats.failed_allocations++;
    return 0;
  }
  uint32_t pfn = wi * WORD_BITS + ctz(~pmm_bitmap[wi]); /* the word's lowest free frame */
  take(pfn);
  pmm_node_stats[frame_table ? frame_table[pfn].node : 0].allocations++;
  return pfn;
}

/* -- nodes ------------------------------------------------------------------ */

/* The lowest free frame in [from, to), or NONE. */
static uint32_t first_free_in(uint32_t from, uint32_t to) {
  to = MIN(to, pmm_stats.frame_count);
  if (from >= to) return NONE;
  uint32_t wi = from / WORD_BITS;
  uint32_t w = pmm_bitmap[wi] | ((1u << (from % WORD_BITS)) - 1);
  if (w == FULL) {
    wi = next_free_word(wi + 1);
    if (wi == NONE) return NONE;
    w = pmm_bitmap[wi];
  }
  uint32_t f = wi * WORD_BITS + ctz(~w);
  return f < to ? f : NONE;
}

pfn_t pmm_alloc_user_frame_node(uint32_t node) {
  /* Bands from the top, as pmm_alloc_user_frame; within one, the node's
   * pieces lowest first, so the frame found is its zone's lowest free one. */
  const uint32_t bands[][2] = {{LOW_WORDS * WORD_BITS, NONE},
                               {DIRECT_MAP_LIMIT / FRAME_SIZE, LOW_WORDS * WORD_BITS},
                               {0, DIRECT_MAP_LIMIT / FRAME_SIZE}};
  for (uint32_t b = 0; b < ARRAY_SIZE(bands); b++) {
    for (uint32_t i = 0; i < piece_count; i++) {
      if (pieces[i].node != node) continue;
      uint32_t f = first_free_in(MAX(pieces[i].start, bands[b][0]), MIN(pieces[i].end, bands[b][1]));
      if (f == NONE) continue;
      take(f);
      pmm_node_stats[node].allocations++;
      return f;
    }
  }
  pmm_stats.failed_allocations++;
  return 0;
}

uint32_t pmm_node_free(uint32_t node) {
  return pmm_node_count > 1 ? pmm_node_stats[node].free_frames : pmm_stats.free_frames;
}

/* Free frames of the bitmap in [from, to), a word at a time where it can. */
static uint32_t count_free(uint32_t from, uint32_t to) {
  uint32_t n = 0;
  for (; from < to && from % WORD_BITS; from++) n += !test_bit(pmm_bitmap, from);
  for (; from + WORD_BITS <= to; from += WORD_BITS) n += WORD_BITS - popcount(pmm_bitmap[from / WORD_BITS]);
  for (; from < to; from++) n += !test_bit(pmm_bitmap, from);
  return n;
}

/* The frames' nodes from the pieces, the maps from the bitmap, and each
 * node's free frames (kept only with several nodes: see pmm_node_free). */
static void rebuild_nodes(void) {
  for (uint32_t i = 0; i < piece_count; i++)
    for (uint32_t f = pieces[i].start; f < pieces[i].end && f < frame_table_frames; f++)
      frame_table[f].node = (uint8_t)pieces[i].node;
  buddy_rebuild();
  for (uint32_t n = 0; n < NUMA_MAX_NODES; n++) pmm_node_stats[n].free_frames = 0;
  if (pmm_node_count > 1)
    for (uint32_t i = 0; i < piece_count; i++)
      pmm_node_stats[pieces[i].node].free_frames += count_free(pieces[i].start, pieces[i].end);
}

void pmm_buddy_init(void) {
  pieces[0] = (struct node_piece){0, pmm_stats.frame_count, 0};
  piece_count = 1;
  pmm_node_count = 1;
  pmm_node_stats[0] = (struct pmm_node_stats){.start = 0,
                                              .end = pmm_stats.frame_count,
                                              .frames = pmm_stats.frame_count};
  buddy_init(); /* frame_table[].node is 0 everywhere: one zone below the direct-map limit */
  buddy_ready = true;
  pcp_init(); /* the caches refill from here on */
}

void pmm_set_nodes(const struct numa_range *ranges, uint32_t range_count, uint32_t node_count) {
  if (node_count == 0 || node_count > NUMA_MAX_NODES || range_count > NUMA_MAX_RANGES) return;
  /* Ranges in frames, clipped to the bitmap, sorted by start (numa.c has
   * refused overlapping ones already); gaps between them are node 0's. */
  struct node_piece sorted[NUMA_MAX_RANGES];
  uint32_t n = 0;
  for (uint32_t i = 0; i < range_count; i++) {
    uint32_t start = (uint32_t)MIN(ranges[i].base >> FRAME_SHIFT, (uint64_t)pmm_stats.frame_count);
    uint32_t end = (uint32_t)MIN(ranges[i].end >> FRAME_SHIFT, (uint64_t)pmm_stats.frame_count);
    if (start >= end || ranges[i].node >= node_count) continue;
    uint32_t at = n++;
    for (; at > 0 && sorted[at - 1].start > start; at--) sorted[at] = sorted[at - 1];
    sorted[at] = (struct node_piece){start, end, ranges[i].node};
  }
  memset(pmm_node_stats, 0, sizeof pmm_node_stats);
  for (uint32_t node = 0; node < node_count; node++) pmm_node_stats[node].start = NONE;
  piece_count = 0;
  uint32_t at = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (sorted[i].start < at) continue; /* overlapping: numa.c refuses these */
    if (sorted[i].start > at) pieces[piece_count++] = (struct node_piece){at, sorted[i].start, 0};
    pieces[piece_count++] = sorted[i];
    struct pmm_node_stats *s = &pmm_node_stats[sorted[i].node];
    s->start = MIN(s->start, sorted[i].start);
    s->end = MAX(s->end, sorted[i].end);
    s->frames += sorted[i].end - sorted[i].start;
    at = sorted[i].end;
  }
  if (at < pmm_stats.frame_count)
    pieces[piece_count++] = (struct node_piece){at, pmm_stats.frame_count, 0};
  for (uint32_t node = 0; node < node_count; node++)
    if (pmm_node_stats[node].start == NONE) pmm_node_stats[node].start = 0;
  pmm_node_count = node_count;
  rebuild_nodes();
}

/* Bytes, saturated: the seed's 32-bit API cannot say 4 GiB or more. */
static uint32_t frames_to_bytes(uint32_t frames) {
  return frames >= (1u << (32 - FRAME_SHIFT)) ? 0xFFFFFFFFu : frames << FRAME_SHIFT;
}
uint32_t get_total_memory(void) { return frames_to_bytes(pmm_stats.usable_frames); }
uint32_t get_free_memory(void) { return frames_to_bytes(pmm_stats.free_frames); }

bool pmm_frame_used(paddr_t pa) { return pmm_pfn_used(pa >> FRAME_SHIFT); }

bool pmm_pfn_used(pfn_t pfn) {
  return pfn >= pmm_stats.frame_count || test_bit(pmm_bitmap, pfn);
}

/* -- initialisation ------------------------------------------------------- */

static uint32_t frame_floor(uint64_t addr) { return (uint32_t)(addr >> FRAME_SHIFT); }
static uint32_t frame_ceil(uint64_t addr) {
  return (uint32_t)((addr + FRAME_SIZE - 1) >> FRAME_SHIFT);
}

/* Frames [from, to) become used and reserved. */
static void reserve(uint32_t from, uint32_t to) {
  if (to > pmm_stats.frame_count) to = pmm_stats.frame_count;
  if (from >= to) return;
  set_range(pmm_bitmap, from, to, true);
  set_range(pmm_reserved, from, to, true);
}

/* Where the bitmaps go: the first page boundary after the kernel image,
 * every module and the boot arena, which must be available RAM reachable by
 * the boot mapping. */
static paddr_t place_bitmaps(uint32_t bytes) {
  paddr_t start = MAX(ALIGN_UP(V2P(__kernel_end), FRAME_SIZE), boot_info.arena_end);
  for (uint32_t i = 0; i < boot_info.module_count; i++)
    start = MAX(start, ALIGN_UP(boot_info.modules[i].end, FRAME_SIZE));
  uint64_t end = (uint64_t)start + bytes;
  if (end > BOOT_MAPPED_LIMIT)
    PANIC("the frame bitmap (%u KiB at %p) must end below %u MiB; modules too large?",
          bytes >> 10, (void *)start, BOOT_MAPPED_LIMIT >> 20);
  for (uint32_t i = 0; i < boot_info.region_count; i++) {
    const struct boot_memory_region *r = &boot_info.regions[i];
    if (r->type == MULTIBOOT_MEMORY_AVAILABLE && r->start <= start && end <= r->end)
      return start;
  }
  PANIC("no available RAM for the frame bitmap (%u KiB at %p)", bytes >> 10, (void *)start);
}

void memory_init(void) {
  /* Coverage: frame 0 up to the end of the highest available region the
   * paging mode can map (legacy: 4 GiB; what lies above is counted, and
   * said, as ignored). */
  uint64_t top = 0, limit = vmm_phys_limit();
  pmm_stats.ignored_frames = 0;
  for (uint32_t i = 0; i < boot_info.region_count; i++) {
    const struct boot_memory_region *r = &boot_info.regions[i];
    if (r->type != MULTIBOOT_MEMORY_AVAILABLE) continue;
    if (r->start < limit) top = MAX(top, MIN(r->end, limit));
    if (r->end > limit)
      pmm_stats.ignored_frames += frame_floor(r->end) - frame_ceil(MAX(r->start, limit));
  }
  if (top == 0) PANIC("the boot loader reported no available memory (memory map missing?)");
  uint32_t frames = frame_floor(top);
  pmm_stats.frame_count = frames;
  low_words = MIN((frames + WORD_BITS - 1) / WORD_BITS, LOW_WORDS);

  /* Level sizes: level 0 has one bit per frame, each next level one bit per
   * word of the one below, up to a level of a single word. */
  uint32_t total_words = 0, words = (frames + WORD_BITS - 1) / WORD_BITS;
  level_count = 0;
  for (;;) {
    level_words[level_count++] = words;
    total_words += words;
    if (words == 1) break;
    words = (words + WORD_BITS - 1) / WORD_BITS;
  }
  total_words += level_words[0]; /* the reserved bitmap */
  pmm_bitmap_bytes = ALIGN_UP(total_words * 4, FRAME_SIZE);
  pmm_bitmap_phys = place_bitmaps(pmm_bitmap_bytes);

  uint32_t *mem = P2V(pmm_bitmap_phys);
  memset(mem, 0xFF, pmm_bitmap_bytes); /* everything used, padding included */
  pmm_bitmap = mem;
  pmm_reserved = mem + level_words[0];
  uint32_t *next = pmm_reserved + level_words[0];
  levels[0] = pmm_bitmap;
  for (uint32_t k = 1; k < level_count; k++) {
    levels[k] = next;
    next += level_words[k];
  }

  /* Available regions become free (whole frames only), then everything that
   * is not available, or is ours, is taken back: reserved wins overlaps. */
  for (uint32_t i = 0; i < boot_info.region_count; i++) {
    const struct boot_memory_region *r = &boot_info.regions[i];
    if (r->type != MULTIBOOT_MEMORY_AVAILABLE) continue;
    uint32_t from = frame_ceil(r->start), to = MIN(frame_floor(r->end), frames);
    if (from < to) {
      set_range(pmm_bitmap, from, to, false);
      set_range(pmm_reserved, from, to, false);
    }
  }
  for (uint32_t i = 0; i < boot_info.region_count; i++) {
    const struct boot_memory_region *r = &boot_info.regions[i];
    if (r->type != MULTIBOOT_MEMORY_AVAILABLE && r->start < top)
      reserve(frame_floor(r->start), frame_ceil(r->end));
  }
  uint32_t padding = level_words[0] * WORD_BITS - frames; /* set in both maps */
  pmm_stats.usable_frames = level_words[0] * WORD_BITS - count_set(pmm_reserved);

  reserve(0, frame_ceil(LOW_MEMORY_END));
  reserve(frame_floor(KERNEL_LOAD_PHYS), frame_ceil(V2P(__kernel_end)));
  for (uint32_t i = 0; i < boot_info.module_count; i++)
    reserve(frame_floor(boot_info.modules[i].start), frame_ceil(boot_info.modules[i].end));
  if (boot_info.arena_end > boot_info.arena_start)
    reserve(frame_floor(boot_info.arena_start), frame_ceil(boot_info.arena_end));
  reserve(frame_floor(pmm_bitmap_phys), frame_ceil(pmm_bitmap_phys + pmm_bitmap_bytes));

  /* Summaries from scratch: a bit per full word below (padding stays set). */
  for (uint32_t k = 1; k < level_count; k++) {
    for (uint32_t j = 0; j < level_words[k - 1]; j++) {
      uint32_t *w = &levels[k][j / WORD_BITS];
      if (levels[k - 1][j] == FULL) *w |= 1u << (j % WORD_BITS);
      else *w &= ~(1u << (j % WORD_BITS));
    }
  }
  pmm_hint = pmm_first_free_low_word();

  pmm_stats.free_frames = level_words[0] * WORD_BITS - count_set(pmm_bitmap);
  pmm_stats.reserved_frames = count_set(pmm_reserved) - padding;

  krecord("PMM frames=%u usable=%u free=%u reserved=%u bitmap=%p bytes=%u levels=%u "
          "ignored=%u\n",
          frames, pmm_stats.usable_frames, pmm_stats.free_frames, pmm_stats.reserved_frames,
          (void *)pmm_bitmap_phys, pmm_bitmap_bytes, level_count, pmm_stats.ignored_frames);
  if (pmm_stats.free_frames < MIN_FREE_BYTES / FRAME_SIZE)
    PANIC("too little RAM: need %u KiB free after the kernel, found %u KiB (RAM top %u KiB)",
          MIN_FREE_BYTES >> 10, get_free_memory() >> 10, (uint32_t)(top >> 10));
}
