/* PMM benchmarks: allocate_page+free_page pairs at a given occupancy, ours
 * and the seed's.  Occupancy is reached the way real use reaches it: frames
 * allocated one after another from a fresh boot, so the lowest are in use. */
#include "bench/bench.h"
#include "lib/string.h"
#include "memlayout.h"
#include "mm/buddy.h"
#include "mm/pcp.h"
#include "mm/pmm.h"

/* Allocates frames until `percent` of usable frames are in use; returns the
 * frames taken (they are never given back: a bench machine is disposable). */
HARNESS_VISIBLE uint32_t bench_pmm_fill(uint32_t percent) {
  uint32_t taken = 0;
  for (;;) {
    uint32_t used = pmm_stats.usable_frames - pmm_stats.free_frames;
    if ((uint64_t)used * 100 >= (uint64_t)pmm_stats.usable_frames * percent) break;
    if (!allocate_page()) break;
    taken++;
  }
  return taken;
}

/* The loop below with the calls removed: its cost is subtracted. */
static uint32_t __attribute__((noinline)) empty_loop(uint32_t n) {
  uint32_t start = bench_clock();
  for (uint32_t i = 0; i < n; i++) __asm__ volatile("" ::: "memory");
  return bench_clock() - start;
}

HARNESS_VISIBLE uint32_t bench_pmm_pairs(uint32_t n) {
  uint32_t start = bench_clock();
  for (uint32_t i = 0; i < n; i++) {
    void *p = allocate_page();
    free_page(p);
  }
  return (bench_clock() - start) - empty_loop(n);
}

/* The seed's allocator on a copy of our bitmap (same occupancy).  The copy
 * lives in frames taken from our allocator, outside the measured loop. */
HARNESS_VISIBLE uint32_t bench_seed_pairs(uint32_t n) {
  uint32_t words = (pmm_stats.frame_count + 31) / 32;
  uint32_t bytes = ALIGN_UP(words * 4, FRAME_SIZE);
  void *frames = allocate_pages(bytes / FRAME_SIZE);
  if (!frames) return 0;
  seed_page_bitmap = P2V((paddr_t)frames);
  memcpy(seed_page_bitmap, pmm_bitmap, words * 4);
  seed_total_pages = pmm_stats.frame_count;
  seed_free_pages = pmm_stats.free_frames;

  uint32_t start = bench_clock();
  for (uint32_t i = 0; i < n; i++) {
    void *p = seed_allocate_page();
    seed_free_page(p);
  }
  uint32_t cost = (bench_clock() - start) - empty_loop(n);
  free_pages(frames, bytes / FRAME_SIZE);
  return cost;
}

/* 50% fragmentation for blocks of `order`: every free frame is taken (as
 * blocks of order + 1, the leftovers frame by frame), then every other of
 * those blocks is given back.  The free memory is then half the blocks of
 * order + 1, each alone (its buddy in use): a request of `order` splits one,
 * its free merges it again.  Returns the blocks given back.  Frames taken
 * earlier stay taken (a bench machine is disposable). */
HARNESS_VISIBLE uint32_t bench_buddy_fragment(uint32_t order) {
  uint32_t max = pmm_stats.free_frames >> (order + 1);
  uint32_t list_frames = ALIGN_UP(max * 4, FRAME_SIZE) / FRAME_SIZE;
  uint32_t *blocks = list_frames ? P2V((paddr_t)allocate_pages(list_frames)) : NULL;
  uint32_t count = 0;
  for (void *b; count < max && (b = allocate_block(order + 1)) != NULL;) blocks[count++] = (paddr_t)b;
  while (allocate_page()) {
  }
  uint32_t freed = 0;
  for (uint32_t i = 0; i < count; i += 2, freed++) free_block((void *)blocks[i], order + 1);
  return freed;
}

HARNESS_VISIBLE uint32_t bench_buddy_pairs(uint32_t order, uint32_t n) {
  uint32_t start = bench_clock();
  for (uint32_t i = 0; i < n; i++) {
    void *p = allocate_block(order);
    free_block(p, order);
  }
  return (bench_clock() - start) - empty_loop(n);
}

/* One bitmap write of a whole-word block: a call, as allocate_block and
 * free_block are. */
static __attribute__((noinline)) void write_words(uint32_t *words, uint32_t count, uint32_t v) {
  buddy_words_set(words, count, v);
}

/* The bitmap's share of a block pair of order >= 5 (buddy_pair_insns_o9_bitmap):
 * the words of the block allocate_block(order) gives now written used and
 * free again, two calls a pair as bench_buddy_pairs makes (run after it: the
 * same block).  What a pair costs beyond this is the buddy's own work.  The
 * words are free before and after: the bitmap stays true. */
HARNESS_VISIBLE uint32_t bench_buddy_bitmap_pairs(uint32_t order, uint32_t n) {
  if (order < 5) return 0;
  void *block = allocate_block(order);
  if (!block) return 0;
  free_block(block, order);
  uint32_t *words = pmm_bitmap + ((paddr_t)block >> FRAME_SHIFT) / 32, count = 1u << (order - 5);
  uint32_t start = bench_clock();
  for (uint32_t i = 0; i < n; i++) {
    write_words(words, count, 0xFFFFFFFFu);
    write_words(words, count, 0);
  }
  return (bench_clock() - start) - empty_loop(n);
}

/* The old linear scan for 2^order frames on a copy of the bitmap as it is
 * now (after bench_buddy_fragment: the same occupancy). */
HARNESS_VISIBLE uint32_t bench_scan_pairs(uint32_t order, uint32_t n) {
  uint32_t words = (pmm_stats.frame_count + 31) / 32;
  uint32_t bytes = ALIGN_UP(words * 4, FRAME_SIZE);
  void *frames = allocate_pages(bytes / FRAME_SIZE);
  if (!frames) return 0;
  scan_bitmap = P2V((paddr_t)frames);
  memcpy(scan_bitmap, pmm_bitmap, words * 4);
  scan_frames = MIN(pmm_stats.frame_count, DIRECT_MAP_LIMIT / FRAME_SIZE);
  scan_reset();
  uint32_t start = bench_clock();
  for (uint32_t i = 0; i < n; i++) {
    void *p = scan_allocate_pages(1u << order);
    scan_free_pages(p, 1u << order);
  }
  uint32_t cost = (bench_clock() - start) - empty_loop(n);
  free_pages(frames, bytes / FRAME_SIZE);
  return cost;
}

/* bench_pmm_pairs through this CPU's frame cache (mm/pcp.h), which takes no
 * lock.  One pair first, outside the clock, fills the cache; then each
 * frame goes back where it came from, so the loop never refills or drains. */
HARNESS_VISIBLE uint32_t bench_pmm_pairs_percpu(uint32_t n) {
  pcp_free(pcp_alloc());
  uint32_t start = bench_clock();
  for (uint32_t i = 0; i < n; i++) {
    void *p = pcp_alloc();
    pcp_free(p);
  }
  return (bench_clock() - start) - empty_loop(n);
}
