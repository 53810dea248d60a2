/* Large blocks: a boundary-tag allocator over the large part of the heap's
 * virtual range.
 *
 * Blocks tile [LARGE_BASE, top) without gaps.  Each starts with a tag (its
 * size and flags, the previous block's size, free-list links) and then the
 * block_header every heap block has.  Free neighbours are merged at once, so
 * no two free blocks are adjacent, and free blocks sit in power-of-two bins
 * (a bitmap finds the first non-empty bin in O(1)).
 *
 * Memory is mapped lazily: the region grows by moving `top` (virtual only),
 * and a block's pages are mapped when it is carved out.  A free block
 * remembers how much of its start is known to be mapped (`mapped_end`), and
 * whether everything after that is known to be unmapped (CLEAN), so reusing a
 * freed block, and deciding what to give back, costs no page-table walk.  Free blocks of RELEASE_MIN
 * bytes or more give their interior pages back to the PMM, except that the
 * block at the top keeps its first TOP_KEEP bytes mapped for the next
 * allocations (which mostly come from there).
 *
 * Quick fit sits in front: HEAP_QUICK_LISTS exact-size lists of freed blocks.
 * The sizes are learned, not fixed: a block size gets a list once QUICK_LEARN
 * blocks of exactly that size were freed (the kernel's own large sizes are
 * few, and a workload's frequent ones are whatever it repeats); a slot whose
 * list is empty goes to a new size when every slot is taken (the one with the
 * fewest frees).  A parked block stays USED to the boundary tags (no
 * coalescing, its pages stay mapped), is poisoned like any freed block and
 * carries CANARY_QUICK, so a second kfree of it is a double free and
 * heap_check checks it.  Lists go back to the boundary tags (coalescing, big
 * blocks releasing their pages) when one would pass its cap, when an
 * allocation would otherwise fail, and before large_trim. */
#include "kernel/errno.h"
#include "kernel/kprintf.h"
#include "lib/string.h"
#include "memlayout.h"
#include "mm/fault.h"
#include "arch/i386/paging.h"
#include "mm/heap_internal.h"
#include "mm/slab.h"

#define USED 0x1u
#define POISONED 0x2u            /* free: the freed payload's poison is still in place */
#define CLEAN 0x4u               /* free: no whole page past mapped_end is mapped */
#define FLAGS 0xFu
#define MIN_BLOCK 64u            /* tag + header + 32 bytes */
#define RELEASE_MIN (16u << 10)   /* free blocks this big return their interior pages */
#define TOP_KEEP (128u << 10)     /* but the block at the top keeps this much mapped */
#define GROW_MIN (256u << 10)    /* the region grows (virtually) by at least this */
#define BINS 24

struct tag {
  uint32_t size_flags; /* block bytes (multiple of 16) | flags */
  uint32_t prev_size;  /* bytes of the block before, 0 for the first */
  struct tag *next_free, *prev_free;
};
_Static_assert(sizeof(struct tag) == 16, "tag + header keep payloads 16-byte aligned");

#define OVERHEAD ((uint32_t)(sizeof(struct tag) + sizeof(struct block_header)))

/* The heap's layout and magic numbers, for the harness's `mm heap` GDB
 * command, exported as kernel/harness_constants.c exports the headers'
 * values (harness_const_NAME): a #define is not in the debug info, a
 * variable is.  Here because MIN_BLOCK and the tag flags are this file's own;
 * nothing in the kernel reads them. */
#define EXPORT(name, value) __attribute__((used)) const uint32_t harness_const_##name = (value)
EXPORT(SLAB_BASE, SLAB_BASE);
EXPORT(SLAB_CHUNK, SLAB_CHUNK);
EXPORT(SLAB_MAGIC, SLAB_MAGIC);
EXPORT(LARGE_BASE, LARGE_BASE);
EXPORT(LARGE_MIN_BLOCK, MIN_BLOCK);
EXPORT(LARGE_TAG_USED, USED);
EXPORT(LARGE_TAG_FLAGS, FLAGS);
EXPORT(CANARY_LIVE, CANARY_LIVE);
EXPORT(CANARY_LIVE_DEBUG, CANARY_LIVE_DEBUG);
EXPORT(CANARY_QUARANTINED, CANARY_QUARANTINED);
#undef EXPORT

#define QUICK_LEARN 4u               /* frees of one size before it gets a list */
#define QUICK_CAP 8u                 /* blocks per list at most */
#define QUICK_LIST_BYTES (256u << 10) /* and at most this many bytes per list */
#define QUICK_MAX_BLOCK (QUICK_LIST_BYTES / 2) /* so every list holds two blocks or more */

static vaddr_t top = LARGE_BASE;
static struct tag *last; /* the block that ends at top, NULL while empty */
static struct tag *bins[BINS];
static uint32_t bin_map; /* bit i set: bins[i] is not empty */
struct heap_quick_stats heap_quick;
static struct tag *quick_head[HEAP_QUICK_LISTS]; /* linked through next_free */

static inline uint32_t size_of(const struct tag *t) { return t->size_flags & ~FLAGS; }
static inline vaddr_t end_of(const struct tag *t) { return (vaddr_t)t + size_of(t); }
static inline struct tag *next_of(const struct tag *t) {
  return end_of(t) < top ? (struct tag *)end_of(t) : NULL;
}
static inline struct tag *prev_of(const struct tag *t) {
  return t->prev_size ? (struct tag *)((vaddr_t)t - t->prev_size) : NULL;
}
static inline void *payload_of(struct tag *t) { return (uint8_t *)t + OVERHEAD; }
static inline struct tag *tag_of(const void *payload) {
  return (struct tag *)((vaddr_t)payload - OVERHEAD);
}
/* How far from its start a free block is known to be mapped (kept in the
 * header's size field, which a free block does not otherwise use). */
static inline uint32_t *mapped_end(struct tag *t) { return &header_of(payload_of(t))->size; }

static uint32_t bin_index(uint32_t size) {
  uint32_t i = 31 - (uint32_t)__builtin_clz(size >> 4);
  return MIN(i, BINS - 1u);
}

static void bin_insert(struct tag *t) {
  uint32_t i = bin_index(size_of(t));
  t->prev_free = NULL;
  t->next_free = bins[i];
  if (bins[i]) bins[i]->prev_free = t;
  bins[i] = t;
  bin_map |= 1u << i;
}

static void bin_remove(struct tag *t) {
  uint32_t i = bin_index(size_of(t));
  if (t->prev_free) t->prev_free->next_free = t->next_free;
  else bins[i] = t->next_free;
  if (t->next_free) t->next_free->prev_free = t->prev_free;
  if (!bins[i]) bin_map &= ~(1u << i);
}

/* Sets t's size and flags and the boundary tag the next block keeps of it. */
static void set_size(struct tag *t, uint32_t size, uint32_t flags) {
  t->size_flags = size | flags;
  struct tag *n = next_of(t);
  if (n) n->prev_size = size;
  if (end_of(t) == top) last = t;
}

/* Turns [t, t + size) into a free block in its bin; `mapped` is how far it is
 * known to be mapped. */
static void make_free(struct tag *t, uint32_t size, vaddr_t mapped, uint32_t flags) {
  set_size(t, size, flags);
  void *p = payload_of(t);
  header_of(p)->canary = canary(CANARY_FREE, p);
  *mapped_end(t) = MIN(mapped, end_of(t));
  bin_insert(t);
}

/* Extends the region (virtually) so that a free block of at least `need`
 * bytes ends at top; returns it, or NULL when the range or memory runs out. */
static struct tag *grow(uint32_t need) {
  bool extend = last && !(last->size_flags & USED);
  uint32_t have = extend ? size_of(last) : 0;
  if (extend && have >= need) return last;
  uint32_t by = ALIGN_UP(MAX(need - have, GROW_MIN), PAGE_SIZE);
  if (by > LARGE_LIMIT - top) return NULL;
  vaddr_t old_top = top;
  if (extend) {
    bin_remove(last);
    top += by;
    struct tag *t = last;
    make_free(t, have + by, *mapped_end(t), t->size_flags & (POISONED | CLEAN));
    return t;
  }
  if (!heap_map_range(old_top, old_top + PAGE_SIZE)) return NULL; /* room for the tag */
  top += by;
  struct tag *t = (struct tag *)old_top;
  t->prev_size = last ? size_of(last) : 0;
  make_free(t, by, old_top + PAGE_SIZE, CLEAN);
  return t;
}

/* Bytes a block holding `size` payload bytes needs. */
static inline uint32_t block_need(size_t size) {
  return MAX(ALIGN_UP(OVERHEAD + size + REDZONE_BYTES, 16), MIN_BLOCK);
}

/* A free block that can hold `need` bytes starting with an `align`-aligned
 * payload: first fit, smallest bins first. */
static struct tag *find(uint32_t need, uint32_t align) {
  uint32_t want = need + (align > 16 ? align + MIN_BLOCK : 0);
  for (uint32_t map = bin_map & ~((1u << bin_index(want)) - 1); map; map &= map - 1)
    for (struct tag *t = bins[__builtin_ctz(map)]; t; t = t->next_free)
      if (size_of(t) >= want) return t;
  return grow(want);
}

/* Splits an aligned payload's worth of space off the front of free block t:
 * returns the (still free, unlisted) block whose payload is aligned. */
static struct tag *align_front(struct tag *t, uint32_t align) {
  vaddr_t payload = ALIGN_UP((vaddr_t)payload_of(t), align);
  if (payload - OVERHEAD - (vaddr_t)t < MIN_BLOCK && payload != (vaddr_t)payload_of(t))
    payload += align;
  struct tag *aligned = (struct tag *)(payload - OVERHEAD);
  if (aligned == t) return t;
  uint32_t front = (vaddr_t)aligned - (vaddr_t)t, rest = size_of(t) - front;
  vaddr_t mapped = *mapped_end(t);
  if (!heap_map_range((vaddr_t)aligned, (vaddr_t)aligned + OVERHEAD)) return NULL;
  uint32_t clean = t->size_flags & CLEAN;
  aligned->prev_size = front;
  make_free(t, front, mapped, clean);
  set_size(aligned, rest, clean);
  *mapped_end(aligned) = MAX((vaddr_t)aligned + OVERHEAD, mapped);
  return aligned;
}

/* A block of `need` bytes carved from the boundary tags, its payload
 * `align`-aligned; its header is not filled in yet. */
static void *carve(uint32_t need, uint32_t align, vaddr_t caller) {
  struct tag *t = find(need, align);
  if (!t) return NULL;
  bin_remove(t);
  if (align > 16) {
    struct tag *aligned = align_front(t, align);
    if (!aligned) {
      bin_insert(t);
      return NULL;
    }
    t = aligned;
  }
  uint32_t total = size_of(t), clean = t->size_flags & CLEAN;
  vaddr_t mapped = *mapped_end(t);
  bool poisoned = t->size_flags & POISONED;
  bool split = total - need >= MIN_BLOCK;
  /* Map the block (and the rest's tag when splitting) past the known prefix:
   * contiguous from it, so the rest keeps its unmapped tail (CLEAN). */
  vaddr_t want = split ? (vaddr_t)t + need + OVERHEAD : end_of(t);
  if (mapped < want) {
    if (!heap_map_range(ALIGN_DOWN(mapped, PAGE_SIZE), want)) {
      bin_insert(t);
      return NULL;
    }
    mapped = want;
  }
  if (split) { /* the rest stays free */
    set_size(t, need, USED);
    make_free((struct tag *)((vaddr_t)t + need), total - need, mapped, clean);
  } else {
    set_size(t, total, USED);
  }
  void *p = payload_of(t);
  if (poisoned && !poison_intact(p)) { /* payloads here are >= 32 bytes */
    heap_report(HEAP_ERR_USE_AFTER_FREE, p, caller, 0);
    header_of(p)->canary = canary(CANARY_QUARANTINED, p); /* stays USED for good */
    heap_stats.quarantined++;
    return carve(need, align, caller);
  }
  return p;
}

/* -- quick lists ------------------------------------------------------------ */

static uint32_t quick_cap(uint32_t block) { return MIN(QUICK_CAP, QUICK_LIST_BYTES / block); }

/* The list for blocks of `block` bytes: its own, or an empty one given to it
 * (an unused slot first, then the one with the fewest frees); -1 if none. */
static int quick_slot(uint32_t block) {
  int victim = -1;
  for (int i = 0; i < HEAP_QUICK_LISTS; i++) {
    if (heap_quick.block_size[i] == block) return i;
    if (!heap_quick.blocks[i] && (victim < 0 || heap_quick.frees[i] < heap_quick.frees[victim]))
      victim = i;
  }
  if (victim >= 0) {
    heap_quick.block_size[victim] = block;
    heap_quick.frees[victim] = 0;
  }
  return victim;
}

static void coalesce(struct tag *t);

/* List i's blocks back to the boundary tags. */
static void quick_flush_list(int i) {
  if (!quick_head[i]) return;
  heap_quick.flushes++;
  while (quick_head[i]) {
    struct tag *t = quick_head[i];
    quick_head[i] = t->next_free;
    heap_quick.blocks[i]--;
    heap_quick.flushed_blocks++;
    void *p = payload_of(t);
    header_of(p)->canary = canary(CANARY_FREE, p); /* its poison is in place */
    coalesce(t);
  }
}

void heap_quick_flush(void) {
  for (int i = 0; i < HEAP_QUICK_LISTS; i++) quick_flush_list(i);
}

static bool quick_parked(void) {
  for (int i = 0; i < HEAP_QUICK_LISTS; i++)
    if (quick_head[i]) return true;
  return false;
}

/* Parks the freed (poisoned) block t, which held `size` bytes, on its size's
 * list if that size is frequent enough; false: it goes to the boundary tags.
 * Only a block of exactly block_need(size) bytes: one carve handed out whole
 * (its rest too small to split off) is larger than any request asks for, and
 * parked it would sit on a list quick_take never looks at. */
static bool quick_park(struct tag *t, uint32_t size) {
  uint32_t block = size_of(t);
  if (block > QUICK_MAX_BLOCK || block != block_need(size)) return false;
  int i = quick_slot(block);
  if (i < 0) return false;
  if (heap_quick.frees[i] < UINT32_MAX) heap_quick.frees[i]++;
  if (heap_quick.frees[i] < QUICK_LEARN) return false;
  if (heap_quick.blocks[i] >= quick_cap(block)) quick_flush_list(i); /* would pass its cap */
  void *p = payload_of(t);
  header_of(p)->canary = canary(CANARY_QUICK, p);
  t->next_free = quick_head[i];
  quick_head[i] = t;
  heap_quick.blocks[i]++;
  return true;
}

/* A parked block of exactly `need` bytes, or NULL.  One written to while
 * parked is reported and quarantined, as the boundary tags do. */
static void *quick_take(uint32_t need, vaddr_t caller) {
  for (int i = 0; i < HEAP_QUICK_LISTS; i++) {
    if (heap_quick.block_size[i] != need) continue;
    while (quick_head[i]) {
      struct tag *t = quick_head[i];
      quick_head[i] = t->next_free;
      heap_quick.blocks[i]--;
      void *p = payload_of(t);
      if (poison_intact(p)) return p;
      heap_report(HEAP_ERR_USE_AFTER_FREE, p, caller, 0);
      header_of(p)->canary = canary(CANARY_QUARANTINED, p); /* stays USED for good */
      heap_stats.quarantined++;
    }
    return NULL;
  }
  return NULL;
}

void *large_alloc(size_t size, uint32_t align, vaddr_t caller) {
  if (size > LARGE_LIMIT - LARGE_BASE) return NULL;
  uint32_t need = block_need(size);
  void *p = NULL;
  if (align <= 16 && need <= QUICK_MAX_BLOCK) {
    p = quick_take(need, caller);
    if (p) heap_quick.hits++;
    else heap_quick.misses++;
  }
  if (!p) p = carve(need, align, caller);
  if (!p && quick_parked()) { /* under pressure: the parked blocks go back first */
    heap_quick_flush();
    p = carve(need, align, caller);
  }
  if (!p) return NULL;
  struct block_header *h = header_of(p);
  h->canary = canary(CANARY_LIVE, p);
  h->size = size;
  h->caller = caller;
  h->epoch = heap_epoch;
  *(uint32_t *)((uint8_t *)p + size) = REDZONE_PATTERN;
  return p;
}

uint32_t large_capacity(const void *ptr) {
  return size_of(tag_of(ptr)) - OVERHEAD - REDZONE_BYTES;
}

/* Classifies a pointer that is not a live block: inside some block, or not. */
static enum heap_error classify(const void *ptr) {
  for (struct tag *t = last ? (struct tag *)LARGE_BASE : NULL; t; t = next_of(t))
    if ((vaddr_t)ptr >= (vaddr_t)t && (vaddr_t)ptr < end_of(t)) return HEAP_ERR_INTERIOR_POINTER;
  return HEAP_ERR_INVALID_POINTER;
}

/* Gives the interior pages of a big free block back (its tag, header and the
 * page holding the next block's start stay mapped). */
static void release_pages(struct tag *t, vaddr_t keep) {
  vaddr_t from = ALIGN_UP((vaddr_t)t + keep, PAGE_SIZE);
  vaddr_t to = ALIGN_DOWN(end_of(t), PAGE_SIZE);
  if (t->size_flags & CLEAN) to = MIN(to, ALIGN_UP(*mapped_end(t), PAGE_SIZE));
  if (from < to) heap_unmap_range(from, to); /* page by page only where pages may be */
  *mapped_end(t) = MIN(*mapped_end(t), MAX(from, (vaddr_t)t + OVERHEAD));
  t->size_flags |= CLEAN;
}

static void release_interior(struct tag *t) {
  release_pages(t, t == last ? TOP_KEEP : OVERHEAD + POISON_BYTES);
}

/* Every free page goes back, and a free block at the top goes altogether:
 * the region shrinks to its last live block (to nothing when all is free). */
void large_trim(void) {
  heap_quick_flush();
  for (struct tag *t = last ? (struct tag *)LARGE_BASE : NULL; t; t = next_of(t))
    if (!(t->size_flags & USED)) release_pages(t, OVERHEAD + POISON_BYTES);
  if (last && !(last->size_flags & USED)) {
    struct tag *t = last;
    bin_remove(t);
    last = prev_of(t); /* in use: free blocks are never adjacent */
    /* Not the page t starts in if the block before ends in it too. */
    heap_unmap_range(ALIGN_UP((vaddr_t)t, PAGE_SIZE), top);
    top = (vaddr_t)t;
  }
}

void large_free(void *p, vaddr_t caller) {
  struct block_header *h = header_of(p);
  uint32_t word;
  if (!IS_ALIGNED((vaddr_t)p, 16) || (vaddr_t)p >= top ||
      probe_read32((vaddr_t)&h->canary, &word) != 0)
    return heap_report((vaddr_t)p < top ? classify(p) : HEAP_ERR_INVALID_POINTER, p, caller, 0);
  if (word != canary(CANARY_LIVE, p)) {
    if (word == canary(CANARY_FREE, p) || word == canary(CANARY_QUARANTINED, p) ||
        word == canary(CANARY_QUICK, p))
      return heap_report(HEAP_ERR_DOUBLE_FREE, p, caller, 0);
    return heap_report(classify(p), p, caller, 0);
  }
  struct tag *t = tag_of(p);
  uint32_t size = h->size;
  if (size > large_capacity(p) || *(uint32_t *)((uint8_t *)p + size) != REDZONE_PATTERN) {
    heap_report(HEAP_ERR_RED_ZONE, p, caller, size);
    h->canary = canary(CANARY_QUARANTINED, p);
    heap_stats.quarantined++;
    return;
  }
  /* The first 32 bytes are checked at reuse; heap_debug=full poisons all of
   * it too (large blocks merge and split, so only that prefix is checked). */
  poison(p, heap_debug_full ? size_of(t) - OVERHEAD : POISON_BYTES);
  h->caller = caller;
  if (quick_park(t, size)) return;
  h->canary = canary(CANARY_FREE, p);
  coalesce(t);
}

/* The freed block t (canary FREE, poisoned) merged with its free neighbours
 * into one free block in its bin. */
static void coalesce(struct tag *t) {
  vaddr_t mapped = end_of(t); /* a live block is mapped all through */
  uint32_t total = size_of(t), flags = POISONED | CLEAN;

  struct tag *n = next_of(t);
  if (n && !(n->size_flags & USED)) { /* merge the next block in */
    bin_remove(n);
    total += size_of(n);
    mapped = *mapped_end(n);
    flags = POISONED | (n->size_flags & CLEAN);
  }
  struct tag *prev = prev_of(t);
  if (prev && !(prev->size_flags & USED)) { /* merge into the previous block */
    bin_remove(prev);
    if (*mapped_end(prev) != (vaddr_t)t) { /* prev's unmapped tail comes before us */
      mapped = *mapped_end(prev);
      flags &= ~CLEAN; /* and our pages after it: not a clean tail */
    }
    flags = (flags & ~POISONED) | (prev->size_flags & POISONED);
    if (!(prev->size_flags & CLEAN)) flags &= ~CLEAN;
    total += size_of(prev);
    t = prev;
  }
  make_free(t, total, mapped, flags);
  if (total >= RELEASE_MIN) release_interior(t);
}

bool large_resize(void *p, size_t size) {
  struct tag *t = tag_of(p), *n = next_of(t);
  uint32_t need = block_need(size), have = size_of(t);
  bool next_free = n && !(n->size_flags & USED);
  uint32_t total = have + (next_free ? size_of(n) : 0);
  if (need > total) return false;
  /* What is known mapped after our block: all of it (it is ours) and then
   * the free next block's mapped prefix. */
  vaddr_t mapped = next_free ? *mapped_end(n) : end_of(t);
  uint32_t clean = next_free ? n->size_flags & CLEAN : CLEAN;
  bool split = total - need >= MIN_BLOCK;
  /* Our block as it will be (and the rest's tag) must be mapped. */
  vaddr_t want = split ? (vaddr_t)t + need + OVERHEAD : (vaddr_t)t + total;
  if (mapped < want) {
    if (!heap_map_range(ALIGN_DOWN(mapped, PAGE_SIZE), want)) return false;
    mapped = want;
  }
  if (need < have || next_free) { /* re-split [t, t + total) */
    if (next_free) bin_remove(n);
    if (split) {
      set_size(t, need, USED);
      make_free((struct tag *)((vaddr_t)t + need), total - need, MAX(mapped, end_of(t)), clean);
    } else {
      set_size(t, total, USED);
    }
  }
  header_of(p)->size = size;
  *(uint32_t *)((uint8_t *)p + size) = REDZONE_PATTERN;
  return true;
}

/* -- whole-region walks ----------------------------------------------------- */

void large_stats(void) {
  uint32_t largest = 0;
  for (struct tag *t = last ? (struct tag *)LARGE_BASE : NULL; t; t = next_of(t)) {
    void *p = payload_of(t);
    if (t->size_flags & USED) {
      if (header_of(p)->canary == canary(CANARY_LIVE, p)) {
        heap_stats.live_blocks++;
        heap_stats.bytes_in_use += size_of(t);
        heap_stats.bytes_requested += header_of(p)->size;
      }
    } else {
      largest = MAX(largest, size_of(t) - OVERHEAD - REDZONE_BYTES);
    }
  }
  heap_stats.largest_free = largest;
}

uint32_t large_leaks(uint32_t mark, uint32_t *bytes) {
  uint32_t count = 0;
  for (struct tag *t = last ? (struct tag *)LARGE_BASE : NULL; t; t = next_of(t)) {
    void *p = payload_of(t);
    struct block_header *h = header_of(p);
    if ((t->size_flags & USED) && h->canary == canary(CANARY_LIVE, p) && h->epoch >= mark) {
      krecord("LEAK addr=%p size=%u caller=%p epoch=%u\n", p, h->size, (void *)h->caller,
              h->epoch);
      count++;
      *bytes += h->size;
    }
  }
  return count;
}

/* Every quick list: its blocks parked (USED, CANARY_QUICK, their list's
 * size, poison intact), its count right; returns the blocks listed, or -1
 * after a report. */
static int quick_check(void) {
  int listed = 0;
  for (int i = 0; i < HEAP_QUICK_LISTS; i++) {
    uint32_t n = 0;
    for (struct tag *t = quick_head[i]; t; t = t->next_free, n++) {
      void *p = payload_of(t);
      uint32_t word;
      if (n >= heap_quick.blocks[i] || (vaddr_t)t < LARGE_BASE || (vaddr_t)t >= top ||
          !IS_ALIGNED((vaddr_t)t, 16) || probe_read32((vaddr_t)&header_of(p)->canary, &word))
        return heap_check_fail("quick-list", t), -1;
      if (word != canary(CANARY_QUICK, p)) return heap_check_fail("quick-canary", p), -1;
      if (!(t->size_flags & USED) || size_of(t) != heap_quick.block_size[i])
        return heap_check_fail("quick-size", p), -1;
      if (!poison_exact(p, heap_debug_full ? size_of(t) - OVERHEAD : POISON_BYTES))
        return heap_check_fail("quick-poison", p), -1;
    }
    if (n != heap_quick.blocks[i]) return heap_check_fail("quick-count", quick_head[i]), -1;
    listed += (int)n;
  }
  return listed;
}

int large_check(void) {
  int quick = quick_check();
  if (quick < 0) return -EINVAL;
  uint32_t prev_size = 0, free_blocks = 0, parked = 0;
  bool prev_free = false;
  for (struct tag *t = last ? (struct tag *)LARGE_BASE : NULL; t; t = next_of(t)) {
    void *p = payload_of(t);
    struct block_header *h = header_of(p);
    uint32_t size = size_of(t);
    if (size < MIN_BLOCK || size % 16 || end_of(t) > top)
      return heap_check_fail("block-size", p), -EINVAL;
    if (t->prev_size != prev_size) return heap_check_fail("boundary-tag", p), -EINVAL;
    if (t->size_flags & USED) {
      if (h->canary == canary(CANARY_LIVE, p)) {
        if (h->size > size - OVERHEAD - REDZONE_BYTES ||
            *(uint32_t *)((uint8_t *)p + h->size) != REDZONE_PATTERN)
          return heap_check_fail("red-zone", p), -EINVAL;
      } else if (h->canary == canary(CANARY_QUICK, p)) {
        parked++;
      } else if (h->canary != canary(CANARY_QUARANTINED, p)) {
        return heap_check_fail("block-canary", p), -EINVAL;
      }
      prev_free = false;
    } else {
      if (h->canary != canary(CANARY_FREE, p)) return heap_check_fail("free-canary", p), -EINVAL;
      if (prev_free) return heap_check_fail("not-coalesced", p), -EINVAL;
      bool listed = false;
      for (struct tag *f = bins[bin_index(size)]; f; f = f->next_free) listed |= f == t;
      if (!listed) return heap_check_fail("free-list", p), -EINVAL;
      free_blocks++;
      prev_free = true;
    }
    prev_size = size;
    if (end_of(t) == top && t != last) return heap_check_fail("last-block", p), -EINVAL;
  }
  uint32_t listed = 0;
  for (uint32_t i = 0; i < BINS; i++) {
    for (struct tag *f = bins[i]; f && listed <= free_blocks; f = f->next_free) listed++;
    if (!bins[i] != !(bin_map & (1u << i))) return heap_check_fail("bin-map", bins[i]), -EINVAL;
  }
  if (listed != free_blocks) return heap_check_fail("free-count", NULL), -EINVAL;
  /* a parked block on no list would never be handed out again */
  if (parked != (uint32_t)quick) return heap_check_fail("quick-unlisted", NULL), -EINVAL;
  return 0;
}
