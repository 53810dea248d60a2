/* VMM benchmarks: map_page+unmap_page pairs on an existing page table, and
 * an address space populated for the harness's page-table walk. */
#include "bench/bench.h"
#include "mm/pmm.h"
#include "mm/vmm.h"

#define BENCH_VA 0x50000000u

static uint32_t __attribute__((noinline)) empty_loop(uint32_t n) {
  uint32_t start = bench_clock();
  for (uint32_t i = 0; i < n; i++) __asm__ volatile("" ::: "memory");
  return bench_clock() - start;
}

/* Instructions for n map_page+unmap_page pairs (the page table exists
 * before the clock starts), loop overhead subtracted. */
HARNESS_VISIBLE uint32_t bench_vmm_map_unmap(uint32_t n) {
  paddr_t frame = (paddr_t)allocate_page();
  map_page(BENCH_VA, frame, PAGE_PRESENT | PAGE_WRITE); /* creates the table */
  unmap_page(BENCH_VA);
  uint32_t start = bench_clock();
  for (uint32_t i = 0; i < n; i++) {
    map_page(BENCH_VA, frame, PAGE_PRESENT | PAGE_WRITE);
    unmap_page(BENCH_VA);
  }
  uint32_t cost = (bench_clock() - start) - empty_loop(n);
  free_page((void *)frame);
  return cost;
}

/* Maps `pages` pages (one shared frame, user read-write) into each of
 * `tables` page tables of dir's user half; returns 0 or the first error. */
HARNESS_VISIBLE int bench_vmm_populate(page_directory_t *dir, uint32_t tables,
                                       uint32_t pages) {
  paddr_t frame = (paddr_t)allocate_page();
  for (uint32_t t = 0; t < tables; t++)
    for (uint32_t p = 0; p < pages; p++) {
      int rc = vmm_map(dir, 0x00400000u + t * LARGE_PAGE_SIZE + p * PAGE_SIZE, frame,
                       PAGE_PRESENT | PAGE_WRITE | PAGE_USER);
      if (rc) return rc;
    }
  return 0;
}
