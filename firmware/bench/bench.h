/* Benchmarks run inside the firmware and counted in instructions: under QEMU's
 * -icount shift=0 the TSC advances exactly one tick per instruction.  Each
 * bench function returns the instructions its measured loop took minus the
 * same loop with nothing in it; the harness divides by the iteration count. */
#pragma once

#include "types.h"

/* Instructions (TSC ticks under -icount) since an earlier bench_clock(). */
static inline uint32_t bench_clock(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi)::"memory");
  (void)hi;
  return lo;
}

void *seed_allocate_page(void);
void seed_free_page(void *page);
extern uint32_t *seed_page_bitmap;
extern uint32_t seed_total_pages, seed_free_pages;

/* The linear scan allocate_pages was before the buddy allocator (scan_pmm.c),
 * on its own copy of the bitmap. */
void scan_reset(void);
void *scan_allocate_pages(uint32_t n);
void scan_free_pages(void *page, uint32_t n);
extern uint32_t *scan_bitmap;
extern uint32_t scan_frames;
