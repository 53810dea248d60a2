/* PMM benchmarks: allocate_page+free_page pairs at a given occupancy, ours
 * and the seed's.  Occupancy is reached the way real use reaches it: frames
 * allocated one after another from a fresh boot, so the lowest are in use. */
#include "bench/bench.h"
#include "lib/string.h"
#include "memlayout.h"
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
