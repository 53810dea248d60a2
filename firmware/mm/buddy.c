/* The buddy allocator's per-order maps (see mm/buddy.h for what they hold
 * and why the hint word and its front are exempt).  pmm.c's bitmap stays the
 * truth: every operation here changes the bitmap and the maps together, and
 * a map entry the bitmap contradicts (a debugger's poke) makes the maps be
 * rebuilt from the bitmap.
 *
 * Nothing scans: allocate_block takes the first bit of a map (one ctz per
 * summary level), a free merges upward testing one map bit per order, and
 * blocks inside one bitmap word are found with bit tricks on the word.
 *
 * Per-word tables (bitmap word w, frames 32w .. 32w + 31):
 *   cut[w]    bit p: frame 32w + p starts another zone than the frame before
 *   capw[w]   the largest order (5..10) of an aligned block holding w that no
 *             zone boundary crosses; 4 when w has a boundary inside
 *   wzone[w]  the zone of frame 32w
 *   rsv1      bit w: word w holds a reserved frame */
#include "mm/buddy.h"
#include "kernel/kprintf.h"
#include "kernel/panic.h"
#include "lib/string.h"
#include "memlayout.h"
#include "mm/frame.h"
#include "mm/numa.h"

#define FULL 0xFFFFFFFFu
#define NONE BUDDY_NONE
#define MAXO BUDDY_MAX_ORDER
#define LOW_PFN_LIMIT 0x100000u /* frames below 4 GiB */
#define DIRECT_PFN_LIMIT (DIRECT_MAP_LIMIT >> FRAME_SHIFT)
#define MAX_PIECES (2 * NUMA_MAX_RANGES + 2) /* node pieces, one split at the direct-map limit */
#define STALE (NONE - 1) /* a block search found a map entry the bitmap contradicts */

struct buddy_stats buddy_stats;
uint32_t buddy_frame_count;
uint32_t *buddy_map[BUDDY_ORDERS][BUDDY_MAP_LEVELS];
uint32_t buddy_map_words[BUDDY_ORDERS][BUDDY_MAP_LEVELS];
uint32_t buddy_map_levels[BUDDY_ORDERS];
uint32_t buddy_front_mask, buddy_hint_order;
paddr_t buddy_maps_phys;
uint32_t buddy_maps_bytes;
bool buddy_ready;

static uint32_t words; /* bitmap words the maps cover: ceil(buddy_frame_count / 32) */
static uint32_t *cut, *rsv1;
static uint8_t *capw, *wzone;
/* Each map's level 0, level 1 (NULL when the map is one word) and top word. */
static uint32_t *ml0[BUDDY_ORDERS], *ml1[BUDDY_ORDERS];
uint32_t *buddy_map_top[BUDDY_ORDERS];

/* The zones as [start, end) runs of frames, in address order (adjacent runs
 * differ in zone); one_zone: a single run, no boundary anywhere. */
struct zone_piece {
  uint32_t start, end, zone;
};
static struct zone_piece pieces[MAX_PIECES];
static uint32_t piece_count;
bool buddy_one_zone; /* one_zone, once the maps exist (the inline fast paths) */
static bool one_zone;

static inline uint32_t ctz(uint32_t x) { return (uint32_t)__builtin_ctz(x); }

static uint32_t popcount(uint32_t x) {
  x = x - ((x >> 1) & 0x55555555u);
  x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
  return (((x + (x >> 4)) & 0x0F0F0F0Fu) * 0x01010101u) >> 24;
}

static uint32_t zone_of(uint32_t pfn) {
  for (uint32_t i = 0; i < piece_count; i++)
    if (pfn >= pieces[i].start && pfn < pieces[i].end) return pieces[i].zone;
  return 0;
}

/* -- the maps: bits and their summaries -------------------------------------- */

/* Small orders (k <= 4): bit index = frame; large: frame >> k. */
static inline uint32_t midx(uint32_t k, uint32_t pfn) { return k < BUDDY_SMALL ? pfn : pfn >> k; }

/* Summary levels 2 and up: out of line, only a word of level 1 turning
 * empty or non-empty climbs. */
static __attribute__((noinline)) void sum_set_up(uint32_t k, uint32_t wi) {
  for (uint32_t l = 2; l < buddy_map_levels[k]; l++) {
    uint32_t *s = &buddy_map[k][l][wi / 32], old = *s;
    *s = old | 1u << (wi % 32);
    if (old) return;
    wi /= 32;
  }
}
static __attribute__((noinline)) void sum_clr_up(uint32_t k, uint32_t wi) {
  for (uint32_t l = 2; l < buddy_map_levels[k]; l++) {
    uint32_t *s = &buddy_map[k][l][wi / 32], now = *s & ~(1u << (wi % 32));
    *s = now;
    if (now) return;
    wi /= 32;
  }
}
/* Word wi of map k became non-zero (zero): its summary bits. */
static inline void sum_set(uint32_t k, uint32_t wi) {
  uint32_t *s = ml1[k];
  if (!s) return;
  s += wi / 32;
  uint32_t old = *s;
  *s = old | 1u << (wi % 32);
  if (!old && buddy_map_levels[k] > 2) sum_set_up(k, wi / 32);
}
static inline void sum_clr(uint32_t k, uint32_t wi) {
  uint32_t *s = ml1[k];
  if (!s) return;
  s += wi / 32;
  uint32_t now = *s & ~(1u << (wi % 32));
  *s = now;
  if (!now && buddy_map_levels[k] > 2) sum_clr_up(k, wi / 32);
}
static inline void map_set(uint32_t k, uint32_t i) {
  uint32_t *w = &ml0[k][i / 32], old = *w;
  *w = old | 1u << (i % 32);
  if (!old) sum_set(k, i / 32);
}
static inline void map_clr(uint32_t k, uint32_t i) {
  uint32_t *w = &ml0[k][i / 32], now = *w & ~(1u << (i % 32));
  *w = now;
  if (!now) sum_clr(k, i / 32);
}
static inline bool map_test(uint32_t k, uint32_t i) { return ml0[k][i / 32] >> (i % 32) & 1; }
/* OR / AND-NOT a whole word of a small map (a bitmap word's blocks). */
static inline void map_or(uint32_t k, uint32_t wi, uint32_t bits) {
  uint32_t *w = &ml0[k][wi], old = *w;
  *w = old | bits;
  if (!old) sum_set(k, wi);
}
static inline void map_andn(uint32_t k, uint32_t wi, uint32_t bits) {
  uint32_t *w = &ml0[k][wi], now = *w & ~bits;
  *w = now;
  if (!now) sum_clr(k, wi);
}

static inline bool map_empty(uint32_t k) { return !*buddy_map_top[k]; }
/* The lowest set bit of a non-empty map k: one ctz per level. */
static inline uint32_t map_first_ne(uint32_t k) {
  uint32_t i = 0;
  for (uint32_t l = buddy_map_levels[k] - 1; l > 0; l--) i = i * 32 + ctz(buddy_map[k][l][i]);
  return i * 32 + ctz(ml0[k][i]);
}
static inline uint32_t map_first(uint32_t k) { return map_empty(k) ? NONE : map_first_ne(k); }

/* The lowest set bit of map k in [lo, hi), or NONE: up the summaries until
 * one has a bit at or after the position, then down. */
static uint32_t map_next(uint32_t k, uint32_t lo, uint32_t hi) {
  if (lo >= hi) return NONE;
  if (lo == 0) {
    uint32_t r = map_first(k);
    return r < hi ? r : NONE;
  }
  uint32_t pos = lo, l = 0;
  for (; l < buddy_map_levels[k]; l++) {
    uint32_t wi = pos / 32;
    if (wi >= buddy_map_words[k][l]) return NONE;
    uint32_t w = buddy_map[k][l][wi] & (FULL << (pos % 32));
    if (w) {
      pos = wi * 32 + ctz(w);
      break;
    }
    pos = wi + 1;
  }
  if (l == buddy_map_levels[k]) return NONE;
  for (; l > 0; l--) pos = pos * 32 + ctz(buddy_map[k][l - 1][pos]);
  return pos < hi ? pos : NONE;
}

/* -- blocks inside one bitmap word -------------------------------------------- */

/* The maximal free blocks of orders 0..4 inside one bitmap word (f: its free
 * bits, c: its zone cuts), each as a mask of first frames.  p_j: bit i set
 * when frames i .. i + 2^j - 1 are free, i aligned to 2^j, no cut inside;
 * the maximal ones of order j are those not inside a p_{j+1} run. */
struct wblocks {
  uint32_t m[BUDDY_SMALL];
};
static inline __attribute__((always_inline)) void word_blocks(uint32_t f, uint32_t c,
                                                              struct wblocks *b) {
  uint32_t p1 = f & (f >> 1) & 0x55555555u;
  uint32_t p2 = p1 & (p1 >> 2) & 0x11111111u;
  uint32_t p3 = p2 & (p2 >> 4) & 0x01010101u;
  uint32_t p4 = p3 & (p3 >> 8) & 0x00010001u;
  uint32_t p5 = p4 & (p4 >> 16) & 1u;
  if (__builtin_expect(c & ~1u, 0)) {
    p1 = f & (f >> 1) & 0x55555555u & ~(c >> 1);
    p2 = p1 & (p1 >> 2) & 0x11111111u & ~(c >> 2);
    p3 = p2 & (p2 >> 4) & 0x01010101u & ~(c >> 4);
    p4 = p3 & (p3 >> 8) & 0x00010001u & ~(c >> 8);
    p5 = p4 & (p4 >> 16) & 1u & ~(c >> 16);
  }
  b->m[0] = f & ~(p1 | p1 << 1);
  b->m[1] = p1 & ~(p2 | p2 << 2);
  b->m[2] = p2 & ~(p3 | p3 << 4);
  b->m[3] = p3 & ~(p4 | p4 << 8);
  b->m[4] = p4 & ~(p5 | p5 << 16);
}

/* Word wi's small blocks join the maps (it stops being the hint word) or
 * leave them (it becomes the hint word). */
static __attribute__((noinline)) void export_word(uint32_t wi) {
  struct wblocks b;
  word_blocks(~pmm_bitmap[wi], cut[wi], &b);
  for (uint32_t k = 0; k < BUDDY_SMALL; k++)
    if (b.m[k]) map_or(k, wi, b.m[k]);
}
static __attribute__((noinline)) void adopt_word(uint32_t wi) {
  struct wblocks b;
  word_blocks(~pmm_bitmap[wi], cut[wi], &b);
  for (uint32_t k = 0; k < BUDDY_SMALL; k++)
    if (b.m[k]) map_andn(k, wi, b.m[k]);
}

/* -- the front: whole-word blocks tied to the hint word ------------------------ */

/* B_i(w): the buddy of the aligned 2^i block holding word w, as a map index. */
static inline uint32_t front_idx(uint32_t w, uint32_t i) { return ((w * 32) >> i) ^ 1; }

/* Every front block and the own block of word w go into the maps (w stops
 * being the hint). */
static __attribute__((noinline)) void export_big(uint32_t w) {
  for (uint32_t m = buddy_front_mask; m; m &= m - 1) map_set(ctz(m), front_idx(w, ctz(m)));
  if (buddy_hint_order) map_set(buddy_hint_order, (w * 32) >> buddy_hint_order);
  buddy_front_mask = buddy_hint_order = 0;
}
/* Word w's own block and front blocks leave the maps (w becomes the hint). */
static __attribute__((noinline)) void adopt_big(uint32_t w) {
  uint32_t i = 5, cap = capw[w];
  if (pmm_bitmap[w] == 0 && cap >= 5) { /* empty, one zone: it heads its block (all below is used) */
    for (uint32_t k = 5; k <= cap; k++) {
      if ((w * 32) & ((1u << k) - 1)) break;
      if (map_test(k, (w * 32) >> k)) {
        map_clr(k, (w * 32) >> k);
        buddy_hint_order = k;
        i = k;
        break;
      }
    }
  }
  for (; i < cap; i++)
    if (map_test(i, front_idx(w, i))) {
      map_clr(i, front_idx(w, i));
      buddy_front_mask |= 1u << i;
    }
}

static inline void move_hint(uint32_t to, bool adopt) {
  uint32_t from = pmm_hint, *bm = pmm_bitmap;
  pmm_hint = to;
  if (from < words) {
    if (bm[from] != FULL && (bm[from] || (cut[from] & ~1u))) export_word(from);
    if (buddy_front_mask | buddy_hint_order) export_big(from);
  }
  if (to < words) {
    if (adopt && (bm[to] || (cut[to] & ~1u))) adopt_word(to);
    adopt_big(to);
  }
}
void buddy_move_hint(uint32_t to, bool adopt) { move_hint(to, adopt); }

/* The hint word's own block has order k and is free: it merges with the
 * front blocks above it while they are its buddies. */
static inline void own_merge(uint32_t k) {
  /* the first order >= k without a front block (at most the cap) */
  uint32_t e = ctz((~buddy_front_mask & ~((1u << k) - 1)) | 1u << capw[pmm_hint]);
  buddy_front_mask &= ~((1u << e) - (1u << k)); /* bits [k, e) */
  buddy_hint_order = e;
}

/* Whole-word block [pfn, pfn + 2^k) (k >= 5, free, no cut inside) joins
 * the maps, merged with its buddies; at a front position of the hint word
 * it becomes a front bit instead (or merges into the own block). */
static inline void big_merge(uint32_t pfn, uint32_t k) {
  uint32_t cap = capw[pfn / 32], h = pmm_hint;
  if (pfn == h * 32) return own_merge(k); /* the hint word's own block */
  while (k < cap || (h < words && k < capw[h])) {
    if (h < words && k < capw[h] && (pfn >> k) == front_idx(h, k)) { /* a front position */
      if (buddy_hint_order == k) return own_merge(k + 1);
      buddy_front_mask |= 1u << k;
      return;
    }
    if (k >= cap) break;
    uint32_t b = (pfn >> k) ^ 1;
    uint32_t *w = &ml0[k][b / 32], old = *w, now = old & ~(1u << (b % 32));
    if (now == old) break; /* the buddy is not a free block of this order */
    *w = now;
    if (!now) sum_clr(k, b / 32);
    pfn &= ~(1u << k);
    k++;
  }
  map_set(k, pfn >> k);
}

/* Block [pos, pos + 2^k) (k <= 4) of word wi, which is not the hint word,
 * just became free: merge inside the word (the buddy is a maximal block
 * exactly when its frames are free and no cut splits the pair), then whole
 * words. */
static inline void small_merge(uint32_t wi, uint32_t pos, uint32_t k) {
  uint32_t f = ~pmm_bitmap[wi], c = cut[wi];
  while (k < BUDDY_SMALL) {
    uint32_t size = 1u << k, base = pos & ~(2 * size - 1);
    uint32_t mask = k == 4 ? FULL : ((1u << (2 * size)) - 1) << base;
    if ((f & mask) != mask || (c & mask & ~(1u << base))) break;
    map_clr(k, wi * 32 + (pos ^ size));
    pos = base;
    k++;
  }
  if (k < BUDDY_SMALL) map_set(k, wi * 32 + pos);
  else big_merge(wi * 32, 5);
}

/* The hint word wi just became empty: if it lies in one zone it is one
 * whole-word block, its own block, merged with the front. */
void buddy_hint_word_emptied(uint32_t wi) {
  if (!(cut[wi] & ~1u)) own_merge(5);
}

void buddy_frame_freed_above(uint32_t wi, uint32_t pfn) { small_merge(wi, pfn % 32, 0); }

/* -- building the maps --------------------------------------------------------- */

/* The zones from frame_table[].node and the direct-map limit, then the
 * per-word tables. */
static void build_zones(void) {
  piece_count = 0;
  uint32_t limit = words * 32; /* the last word's padding is used: the last zone's */
  for (uint32_t f = 0; f < buddy_frame_count; f++) {
    uint32_t z = frame_table[f].node * 2u + (f >= DIRECT_PFN_LIMIT);
    if (piece_count && pieces[piece_count - 1].zone == z) continue;
    if (piece_count == MAX_PIECES) PANIC("buddy: more than %u zone pieces", MAX_PIECES);
    if (piece_count) pieces[piece_count - 1].end = f;
    pieces[piece_count++] = (struct zone_piece){f, limit, z};
  }
  one_zone = piece_count == 1;
  buddy_one_zone = one_zone;
  memset(cut, 0, words * 4);
  for (uint32_t i = 1; i < piece_count; i++) cut[pieces[i].start / 32] |= 1u << (pieces[i].start % 32);
  uint32_t p = 0;
  for (uint32_t w = 0; w < words; w++) {
    while (pieces[p].end <= w * 32) p++;
    wzone[w] = (uint8_t)pieces[p].zone;
    if (cut[w] & ~1u) {
      capw[w] = 4;
      continue;
    }
    /* the largest aligned block holding w inside w's piece */
    uint32_t j = 5;
    while (j < MAXO) {
      uint32_t base = (w * 32) & ~((2u << j) - 1);
      if (base < pieces[p].start || base + (2u << j) > pieces[p].end) break;
      j++;
    }
    capw[w] = (uint8_t)j;
  }
  memset(rsv1, 0, (words + 31) / 32 * 4);
  for (uint32_t w = 0; w < words; w++)
    if (pmm_reserved[w]) rsv1[w / 32] |= 1u << (w % 32);
}

/* The maps from the bitmap, O(words): every word's small blocks but the
 * hint word's, the whole-word free runs cut greedily into aligned blocks
 * (the largest at each step: the maximal ones), then the hint word's own
 * block and front out. */
static void build_maps(void) {
  for (uint32_t k = 0; k < BUDDY_ORDERS; k++)
    for (uint32_t l = 0; l < buddy_map_levels[k]; l++) memset(buddy_map[k][l], 0, buddy_map_words[k][l] * 4);
  const uint32_t *bm = pmm_bitmap;
  for (uint32_t wi = 0; wi < words; wi++) /* a full word has none, an empty uncut one is whole */
    if (wi != pmm_hint && bm[wi] != FULL && (bm[wi] || (cut[wi] & ~1u))) export_word(wi);
  uint32_t wi = 0;
  while (wi < words) {
    if (bm[wi] != 0 || (cut[wi] & ~1u)) {
      wi++;
      continue;
    }
    uint32_t k = 5;
    while (k < capw[wi] && !((wi * 32) & (1u << k))) {
      uint32_t n = 1u << (k - 5);
      if (buddy_words_or(bm + wi + n, n)) break;
      k++;
    }
    map_set(k, (wi * 32) >> k);
    wi += 1u << (k - 5);
  }
  buddy_front_mask = buddy_hint_order = 0;
  if (pmm_hint < words) adopt_big(pmm_hint);
}

void buddy_rebuild(void) {
  uint32_t h = pmm_first_free_low_word(); /* repairs the bitmap's summaries too */
  pmm_hint = h < words ? h : NONE;
  build_zones();
  build_maps();
}

/* The map area: maps and their summaries per order, then cut, rsv1, capw,
 * wzone; from the bitmap alone (the maps do not exist yet). */
void buddy_init(void) {
  buddy_frame_count = MIN(pmm_stats.frame_count, LOW_PFN_LIMIT);
  words = (buddy_frame_count + 31) / 32;
  uint32_t total = 0;
  for (uint32_t k = 0; k < BUDDY_ORDERS; k++) {
    uint32_t bits = k < BUDDY_SMALL ? words * 32 : (words * 32 + (1u << k) - 1) >> k;
    uint32_t w = (bits + 31) / 32, l = 0;
    for (;;) {
      buddy_map_words[k][l++] = w;
      total += w;
      if (w == 1) break;
      w = (w + 31) / 32;
    }
    buddy_map_levels[k] = l;
  }
  uint32_t bytes = total * 4 + words * 4 + (words + 31) / 32 * 4 + 2 * words;
  buddy_maps_bytes = ALIGN_UP(bytes, FRAME_SIZE);
  paddr_t pa = (paddr_t)allocate_pages(buddy_maps_bytes / FRAME_SIZE); /* the scan: no maps yet */
  if (!pa || pa + buddy_maps_bytes > DIRECT_MAP_LIMIT)
    PANIC("no %u KiB run of low frames for the buddy maps", buddy_maps_bytes >> 10);
  buddy_maps_phys = pa;
  uint32_t *next = P2V(pa);
  memset(next, 0, buddy_maps_bytes);
  for (uint32_t k = 0; k < BUDDY_ORDERS; k++) {
    for (uint32_t l = 0; l < buddy_map_levels[k]; l++) {
      buddy_map[k][l] = next;
      next += buddy_map_words[k][l];
    }
    ml0[k] = buddy_map[k][0];
    ml1[k] = buddy_map_levels[k] > 1 ? buddy_map[k][1] : NULL;
    buddy_map_top[k] = buddy_map[k][buddy_map_levels[k] - 1];
  }
  cut = next;
  rsv1 = cut + words;
  capw = (uint8_t *)(rsv1 + (words + 31) / 32);
  wzone = capw + words;
  buddy_rebuild();
  krecord("BUDDY maps=%u at=%p frames=%u\n", buddy_maps_bytes, (void *)pa, buddy_frame_count);
}

uint32_t buddy_free_blocks(uint32_t order) {
  if (order > MAXO) return 0;
  uint32_t n = 0;
  for (uint32_t i = 0; i < buddy_map_words[order][0]; i++) n += popcount(ml0[order][i]);
  uint32_t h = pmm_hint;
  if (h >= words) return n;
  if (order < BUDDY_SMALL) {
    struct wblocks b;
    word_blocks(~pmm_bitmap[h], cut[h], &b);
    return n + popcount(b.m[order]);
  }
  return n + (buddy_hint_order == order) + (buddy_front_mask >> order & 1);
}

/* -- taking blocks -------------------------------------------------------------- */

/* A map entry (or front or own block) the bitmap says is not wholly free:
 * the bitmap was changed behind the allocator's back.  The maps are rebuilt
 * from it; the caller retries. */
static __attribute__((noinline)) uint32_t repair(uint32_t pfn, uint32_t k) {
  krecord("BUDDY repair=stale-block pfn=%p order=%u\n", (void *)pfn, k);
  buddy_stats.repairs++;
  buddy_rebuild();
  return STALE;
}

/* Whether block [pfn, pfn + 2^k) is all free in the bitmap. */
static inline bool block_free(uint32_t pfn, uint32_t k) {
  if (k < BUDDY_SMALL)
    return !(pmm_bitmap[pfn / 32] & ((1u << (1u << k)) - 1) << (pfn % 32));
  return !buddy_words_or(pmm_bitmap + pfn / 32, 1u << (k - 5));
}

/* Block [pfn, pfn + 2^k), all free, becomes used in the bitmap. */
static inline __attribute__((always_inline)) void claim(uint32_t pfn, uint32_t k) {
  uint32_t wi = pfn / 32;
  pmm_stats.free_frames -= 1u << k;
  pmm_node_account(pfn, -(int32_t)(1u << k));
  if (k < BUDDY_SMALL) {
    uint32_t w = pmm_bitmap[wi] | ((1u << (1u << k)) - 1) << (pfn % 32);
    pmm_bitmap[wi] = w;
    if (w == FULL) {
      pmm_summary_set_full_at(1, wi);
      if (wi == pmm_hint) move_hint(pmm_first_free_low_word(), true);
    }
  } else {
    uint32_t n = 1u << (k - 5);
    buddy_words_set(pmm_bitmap + wi, n, FULL);
    pmm_words_changed(wi, pmm_words_mask(wi, n), true);
    if (wi == pmm_hint) /* the next non-full word is often the one after the block */
      move_hint(wi + n < words && pmm_bitmap[wi + n] != FULL ? wi + n : pmm_first_free_low_word(), true);
  }
}

/* A mapped block of order j at pfn for a request of order k: its upper
 * halves go into the maps (inside the hint word they stay implicit). */
static inline __attribute__((always_inline)) uint32_t take_mapped(uint32_t pfn, uint32_t j, uint32_t k) {
  if (__builtin_expect(!block_free(pfn, j), 0)) return repair(pfn, j);
  map_clr(j, midx(j, pfn));
  uint32_t i = j;
  if (j >= BUDDY_SMALL) {
    while (i > 5 && i > k) {
      i--;
      map_set(i, (pfn + (1u << i)) >> i);
    }
    if (i > k && pfn / 32 == pmm_hint) i = k; /* the hint word's halves stay implicit */
  }
  while (i > k) {
    i--;
    map_set(i, pfn + (1u << i));
  }
  claim(pfn, k);
  return pfn;
}

/* The hint word's own block (order j) for a request of order k: its lower
 * 2^k frames are taken, its upper halves become the front. */
static uint32_t take_own(uint32_t k, uint32_t j) {
  uint32_t wi = pmm_hint, pfn = wi * 32, lo = k > 5 ? k : 5;
  /* the part taken (the rest stays exempt, as the own block or the front,
   * and is checked when it is taken) */
  if (k >= 5 && k < j) {
    /* The block's words fill; the next non-full word is B_k(W) (the upper
     * half), whose own block it is, order k; the front above k is shared.
     * The check is block_free's, with the words' pointer and count kept
     * for the fill. */
    uint32_t n = 1u << (k - 5), *bm = pmm_bitmap + wi;
    if (__builtin_expect(buddy_words_or(bm, n) != 0, 0)) return repair(pfn, j);
    buddy_words_set(bm, n, FULL);
    pmm_words_changed(wi, pmm_words_mask(wi, n), true);
    pmm_stats.free_frames -= 1u << k;
    pmm_node_account(pfn, -(int32_t)(1u << k));
    pmm_hint = wi + n;
    buddy_hint_order = k;
    buddy_front_mask = (buddy_front_mask & ~((1u << j) - 1)) | (((1u << j) - 1) & ~((2u << k) - 1));
    return pfn;
  }
  if (__builtin_expect(!block_free(pfn, k), 0)) return repair(pfn, j);
  buddy_hint_order = 0;
  buddy_front_mask |= ((1u << j) - 1) & ~((1u << lo) - 1);
  claim(pfn, k); /* k >= 5: the hint moves on, the front with it */
  return pfn;
}

/* The front block B_j(W) for a request of order k: split like a mapped one
 * (its halves are no front positions). */
static uint32_t take_front(uint32_t k, uint32_t j) {
  uint32_t pfn = front_idx(pmm_hint, j) << j, i = j;
  if (__builtin_expect(!block_free(pfn, j), 0)) return repair(pfn, j);
  buddy_front_mask &= ~(1u << j);
  while (i > 5 && i > k) {
    i--;
    map_set(i, (pfn + (1u << i)) >> i);
  }
  while (i > k) {
    i--;
    map_set(i, pfn + (1u << i));
  }
  claim(pfn, k);
  return pfn;
}

/* One zone, W holding no block of order k .. 4 that the maps do not beat:
 * orders from k up, the front and own block first (the lowest
 * blocks of their order), then the map. */
static inline __attribute__((always_inline)) uint32_t alloc_maps(uint32_t k) {
  uint32_t j = k;
  for (; j < BUDDY_SMALL; j++)
    if (!map_empty(j)) return take_mapped(map_first_ne(j), j, k);
  /* Whole-word orders: the own block's order and the front as one mask,
   * read once (bit 0, no own block, is below every order here). */
  uint32_t exempt = pmm_hint < words ? buddy_front_mask | 1u << buddy_hint_order : 0;
  for (; j <= MAXO; j++) {
    if (exempt >> j & 1) return buddy_hint_order == j ? take_own(k, j) : take_front(k, j);
    if (!map_empty(j)) return take_mapped(map_first_ne(j) << j, j, k);
  }
  return NONE;
}

/* The lowest maximal block of order j in zone z, or NONE (maps only). */
static uint32_t find_in_zone(uint32_t j, uint32_t z) {
  for (uint32_t i = 0; i < piece_count; i++) {
    if (pieces[i].zone != z) continue;
    uint32_t lo = (pieces[i].start + (1u << j) - 1) >> j, hi = pieces[i].end >> j;
    uint32_t r = map_next(j, midx(j, lo << j), midx(j, hi << j));
    if (r != NONE) return j < BUDDY_SMALL ? r : r << j;
  }
  return NONE;
}

/* The hint word's lowest block among `mask` lying in zone z, or NONE. */
static uint32_t hint_block_in_zone(uint32_t mask, uint32_t z) {
  for (; mask; mask &= mask - 1) {
    uint32_t pfn = pmm_hint * 32 + ctz(mask);
    if (zone_of(pfn) == z) return pfn;
  }
  return NONE;
}

static uint32_t alloc_zones_inner(uint32_t k, uint32_t zone) {
  struct wblocks hb;
  uint32_t h = pmm_hint, hz = NONE;
  if (k < BUDDY_SMALL && h < words) {
    word_blocks(~pmm_bitmap[h], cut[h], &hb);
    hz = (cut[h] & ~1u) ? NONE - 1 : wzone[h];
  }
  for (uint32_t z = zone; z < 2 * pmm_node_count; z += 2) {
    for (uint32_t j = k; j <= MAXO; j++) {
      uint32_t pfn = NONE;
      if (j < BUDDY_SMALL && hz != NONE && hb.m[j]) { /* the hint word's blocks: the lowest */
        if (hz == z) pfn = h * 32 + ctz(hb.m[j]);
        else if (hz == NONE - 1) pfn = hint_block_in_zone(hb.m[j], z);
        if (pfn != NONE) {
          claim(pfn, k); /* the halves stay in the hint word: implicit */
          return pfn;
        }
      }
      pfn = find_in_zone(j, z);
      if (pfn != NONE) return take_mapped(pfn, j, k);
    }
  }
  return NONE;
}

/* Several zones: rare, so the front goes into
 * the maps for the search, which then sees only maps and the hint word's
 * small blocks, and comes back after. */
static __attribute__((noinline)) uint32_t alloc_zones(uint32_t k, uint32_t zone) {
  uint32_t h0 = pmm_hint;
  if (h0 < words) export_big(h0);
  uint32_t r = alloc_zones_inner(k, zone);
  if (pmm_hint == h0 && h0 < words) adopt_big(h0); /* after a repair too: build_maps adopted it already */
  return r;
}

void buddy_hint_word_filled(uint32_t h) {
  pmm_summary_set_full_at(1, h);
  move_hint(pmm_first_free_low_word(), true);
}

/* One search: several zones, or one (the hint word's blocks inline in
 * buddy.h first: they are the lowest of their order; then the maps). */
static inline __attribute__((always_inline)) uint32_t alloc_once(uint32_t k, uint32_t zone) {
  if (!one_zone) return alloc_zones(k, zone);
  if (zone & 1) return NONE; /* one zone, an even one (frame 0 is below the direct-map limit) */
  if (k < BUDDY_SMALL) {
    /* NONE: W has no block of order k .. j, where map j is the first
     * non-empty map (or W none up to order 4): alloc_maps from k finds it */
    uint32_t r = buddy_alloc_hint_word(k);
    if (r != NONE) return r;
  }
  return alloc_maps(k);
}

uint32_t buddy_alloc(uint32_t k, uint32_t zone) {
  for (bool rebuilt = false;; rebuilt = true) {
    uint32_t r = alloc_once(k, zone);
    if (__builtin_expect(r != STALE, 1)) return r;
    if (rebuilt) PANIC("buddy: the maps rebuilt from the bitmap are stale (order %u)", k);
  }
}

/* -- freeing blocks ---------------------------------------------------------------- */

/* A small block was freed in word wi (the bitmap changed): summaries, the
 * hint, merges outside the hint word. */
static __attribute__((noinline)) void free_small_rest(uint32_t wi, uint32_t pos, uint32_t k,
                                                      uint32_t w, uint32_t now) {
  if (w == FULL) pmm_summary_clear_full_at(1, wi);
  if (wi <= pmm_hint) {
    if (wi < pmm_hint) move_hint(wi, false);
    if (!now) buddy_hint_word_emptied(wi);
    return;
  }
  small_merge(wi, pos, k);
}

bool buddy_free(uint32_t pfn, uint32_t k) {
  uint32_t wi = pfn / 32;
  if (__builtin_expect(k < BUDDY_SMALL, 1)) {
    /* aligned, inside the word (the padding past the last frame is
     * reserved), all used, none reserved, no zone starting inside */
    uint32_t pos = pfn % 32, mask = buddy_runs[k] << pos, w = pmm_bitmap[wi];
    if (!(pos & ((1u << k) - 1)) && wi < words && (w & mask) == mask &&
        !((pmm_reserved[wi] | (cut[wi] & mask << 1)) & mask)) {
      uint32_t now = w & ~mask;
      pmm_bitmap[wi] = now;
      pmm_stats.free_frames += 1u << k;
      pmm_node_account(pfn, 1 << k);
      if (__builtin_expect(wi == pmm_hint && now && w != FULL, 1)) return true;
      free_small_rest(wi, pos, k, w, now);
      return true;
    }
    return false;
  }
  /* Whole words: aligned; capw[wi] >= k: in one zone and inside the maps;
   * no reserved frame (rsv1); all used (every word full: a frame a debugger
   * freed behind our back sends the free frame by frame, as today). */
  uint32_t nw = 1u << (k - 5), n = 1u << k, smask = pmm_words_mask(wi, nw);
  if (k > MAXO || (pfn & (n - 1)) || capw[wi] < k || (rsv1[wi / 32] & smask) ||
      buddy_words_and(pmm_bitmap + wi, nw) != FULL)
    return false;
  buddy_words_set(pmm_bitmap + wi, nw, 0);
  pmm_words_changed(wi, smask, false);
  pmm_stats.free_frames += n;
  pmm_node_account(pfn, (int32_t)n);
  uint32_t h = pmm_hint;
  if (wi < h) {
    if (buddy_hint_order == k && h == wi + nw && !(wi & nw)) {
      /* the hint word's own block is this block's upper buddy: one block
       * of order k + 1 headed here, the front above shared */
      pmm_hint = wi;
      own_merge(k + 1);
      return true;
    }
    move_hint(wi, false);
  }
  big_merge(pfn, k);
  return true;
}

/* -- taking a given frame ------------------------------------------------------------ */

/* The order and head of the mapped block holding pfn (a whole-word one from
 * order `from` up), or false when none does (stale maps). */
static bool mapped_block(uint32_t pfn, uint32_t from, uint32_t *order, uint32_t *head) {
  for (uint32_t k = from; k <= MAXO; k++)
    if (map_test(k, pfn >> k)) {
      *order = k;
      *head = (pfn >> k) << k;
      return true;
    }
  return false;
}

/* Frame pfn, free, outside the hint word (pmm.c takes W's frames itself:
 * they are in no map): its block leaves the maps and splits down to it,
 * the halves go back. */
static uint32_t take_frame_once(uint32_t pfn) {
  uint32_t wi = pfn / 32, pos = pfn % 32, k, head;
  /* rare: the front goes into the maps for the split, and comes back */
  uint32_t h0 = pmm_hint;
  if (h0 < words) export_big(h0);
  struct wblocks b;
  word_blocks(~pmm_bitmap[wi], cut[wi], &b);
  k = 0;
  while (k < BUDDY_SMALL && !(b.m[k] >> (pos & ~((1u << k) - 1)) & 1)) k++;
  if (k < BUDDY_SMALL) {
    head = wi * 32 + (pos & ~((1u << k) - 1));
    if (!map_test(k, head)) return repair(head, k);
    map_clr(k, head);
  } else {
    if (!mapped_block(pfn, 5, &k, &head) || !block_free(head, k)) return repair(pfn, 5);
    map_clr(k, pfn >> k);
  }
  while (k > 0) {
    k--;
    uint32_t half = head + (1u << k);
    uint32_t other = pfn >= half ? head : half;
    if (pfn >= half) head = half;
    map_set(k, midx(k, other));
  }
  uint32_t w = pmm_bitmap[wi] | 1u << pos;
  pmm_bitmap[wi] = w;
  pmm_stats.free_frames--;
  pmm_node_account(pfn, -1);
  if (w == FULL) pmm_summary_set_full_at(1, wi); /* not the hint word: the hint stays */
  if (h0 < words) adopt_big(h0);
  return pfn;
}

void buddy_take_frame(uint32_t pfn) {
  if (take_frame_once(pfn) == STALE && take_frame_once(pfn) == STALE) /* after the rebuild */
    PANIC("buddy: free frame %p is in no block of the rebuilt maps", (void *)pfn);
}
