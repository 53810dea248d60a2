/* Bench-only: allocate_pages as it was before the buddy allocator (issue 19),
 * kept as the baseline buddy_pair_insns is measured against: a first-fit
 * scan of the bitmap from the lowest word with a free frame, a whole word at
 * a time where it can, bit by bit elsewhere.  It runs on its own copy of
 * the bitmap, so it sees the occupancy the buddy bench left; marking is
 * plain bit setting (the old code also kept the summary levels: the scan
 * here is, if anything, cheaper than it was). */
#include "bench/bench.h"
#include "mm/pmm.h"

uint32_t *scan_bitmap;
uint32_t scan_frames;
static uint32_t scan_hint; /* lowest word with a free bit */

void scan_reset(void) {
  scan_hint = 0;
  while (scan_hint * 32 < scan_frames && scan_bitmap[scan_hint] == 0xFFFFFFFFu) scan_hint++;
}

void *scan_allocate_pages(uint32_t n) {
  uint32_t run = 0, start = 0;
  for (uint32_t f = scan_hint * 32; f < scan_frames;) {
    uint32_t w = scan_bitmap[f / 32];
    if (f % 32 == 0 && (w == 0 || w == 0xFFFFFFFFu)) { /* a whole word at once */
      if (w) {
        run = 0;
      } else {
        if (run == 0) start = f;
        run += 32;
      }
      f += 32;
    } else {
      if (w & (1u << (f % 32))) {
        run = 0;
      } else {
        if (run == 0) start = f;
        run++;
      }
      f++;
    }
    if (run >= n) {
      for (uint32_t i = start; i < start + n; i++) scan_bitmap[i / 32] |= 1u << (i % 32);
      while (scan_hint * 32 < scan_frames && scan_bitmap[scan_hint] == 0xFFFFFFFFu) scan_hint++;
      return (void *)(start * FRAME_SIZE);
    }
  }
  return NULL;
}

void scan_free_pages(void *page, uint32_t n) {
  uint32_t first = (uint32_t)page / FRAME_SIZE;
  for (uint32_t i = first; i < first + n; i++) scan_bitmap[i / 32] &= ~(1u << (i % 32));
  if (first / 32 < scan_hint) scan_hint = first / 32;
}
