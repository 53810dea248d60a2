/* Heap benchmarks: kmalloc+kfree pairs by size, and the footprint of a
 * fixed-seed random workload (peak bytes mapped over peak bytes live). */
#include "bench/bench.h"
#include "kernel/kprintf.h"
#include "mm/heap.h"

static uint32_t __attribute__((noinline)) empty_loop(uint32_t n) {
  uint32_t start = bench_clock();
  for (uint32_t i = 0; i < n; i++) __asm__ volatile("" ::: "memory");
  return bench_clock() - start;
}

/* Instructions for n kmalloc(size)+kfree pairs on a heap in use: one other
 * block of the same size stays live meanwhile, so the measured pairs neither
 * create nor empty a slab (or region), as in a running kernel.  Loop overhead
 * subtracted. */
HARNESS_VISIBLE uint32_t bench_heap_pairs(uint32_t size, uint32_t n) {
  void *neighbour = kmalloc(size);
  kfree(kmalloc(size));
  uint32_t start = bench_clock();
  for (uint32_t i = 0; i < n; i++) kfree(kmalloc(size));
  uint32_t cost = (bench_clock() - start) - empty_loop(n);
  kfree(neighbour);
  return cost;
}

/* xorshift32: the workload is the same on every run. */
static uint32_t rng;
static uint32_t next_random(void) {
  rng ^= rng << 13;
  rng ^= rng >> 17;
  rng ^= rng << 5;
  return rng;
}

/* Log-uniform in [8, 16384]: a uniform exponent, then uniform within it. */
static uint32_t random_size(void) {
  uint32_t octave = next_random() % 11; /* 8 << 0 .. 8 << 10 */
  uint32_t low = 8u << octave;
  return low + next_random() % (low + 1);
}

#define LIVE_CAP (4u << 20)
#define MAX_LIVE 8192
static void *live[MAX_LIVE];
static uint32_t live_size[MAX_LIVE];

struct footprint {
  uint32_t peak_mapped, peak_live, ops, failures;
};
struct footprint bench_footprint_result;

/* ops operations: 10% krealloc, 60% kmalloc (a free instead when the live
 * set would pass 4 MiB), 30% kfree of a random live block, so the live set
 * climbs to the cap and churns there.  Results in bench_footprint_result;
 * returns peak mapped * 1000 / peak live. */
uint32_t bench_footprint_check_every; /* tests: run heap_check every n ops */
uint32_t bench_footprint_keep_live;   /* tests: leave the live set allocated */

HARNESS_VISIBLE uint32_t bench_heap_footprint(uint32_t seed, uint32_t ops) {
  struct footprint *r = &bench_footprint_result;
  uint32_t count = 0, live_bytes = 0, mapped_before = heap_stats.bytes_mapped;
  rng = seed ? seed : 1;
  r->peak_mapped = r->peak_live = r->failures = 0;
  for (r->ops = 0; r->ops < ops; r->ops++) {
    uint32_t choice = next_random() % 100, size = random_size();
    if (choice < 10 && count) { /* krealloc */
      uint32_t i = next_random() % count;
      if (live_bytes - live_size[i] + size > LIVE_CAP) continue;
      void *p = krealloc(live[i], size);
      if (!p) {
        r->failures++;
        continue;
      }
      live_bytes = live_bytes - live_size[i] + size;
      live[i] = p;
      live_size[i] = size;
    } else if ((choice < 70 && count < MAX_LIVE && live_bytes + size <= LIVE_CAP) || !count) {
      void *p = kmalloc(size);
      if (!p) {
        r->failures++;
        continue;
      }
      live[count] = p;
      live_size[count++] = size;
      live_bytes += size;
    } else { /* free a random block */
      uint32_t i = next_random() % count;
      kfree(live[i]);
      live_bytes -= live_size[i];
      live[i] = live[--count];
      live_size[i] = live_size[count];
    }
    if (bench_footprint_check_every && r->ops % bench_footprint_check_every == 0 &&
        heap_check() != 0)
      return 0;
    r->peak_live = live_bytes > r->peak_live ? live_bytes : r->peak_live;
    uint32_t mapped = heap_stats.bytes_mapped - mapped_before;
    r->peak_mapped = mapped > r->peak_mapped ? mapped : r->peak_mapped;
  }
  while (count && !bench_footprint_keep_live) kfree(live[--count]);
  return (uint32_t)((uint64_t)r->peak_mapped * 1000 / r->peak_live);
}
