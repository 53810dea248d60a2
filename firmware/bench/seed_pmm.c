/* Bench-only: the seed design's frame allocator, kept as the baseline the
 * bench measures ours against.  It scans the bitmap bit by bit from frame 0
 * on every allocation, exactly as the original design's allocate_page does; free_page (not
 * spelled out in the seed) clears the bit.  It runs on its own copy of the
 * bitmap so both allocators see the same occupancy. */
#include "bench/bench.h"
#include "mm/pmm.h"

uint32_t *seed_page_bitmap;
uint32_t seed_total_pages;
uint32_t seed_free_pages;

void *seed_allocate_page(void) {
  for (uint32_t i = 0; i < seed_total_pages; i++) {
    if (!(seed_page_bitmap[i / 32] & (1u << (i % 32)))) {
      seed_page_bitmap[i / 32] |= (1u << (i % 32));
      seed_free_pages--;
      return (void *)(i * FRAME_SIZE);
    }
  }
  return NULL;
}

void seed_free_page(void *page) {
  uint32_t i = (uint32_t)page / FRAME_SIZE;
  seed_page_bitmap[i / 32] &= ~(1u << (i % 32));
  seed_free_pages++;
}
