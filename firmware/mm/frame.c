/* The frame table (see include/mm/frame.h). */
#include "mm/frame.h"
#include "kernel/errno.h"
#include "kernel/kprintf.h"
#include "kernel/panic.h"
#include "lib/string.h"
#include "memlayout.h"
#include "mm/pmm.h"

struct frame_info *frame_table;
uint32_t frame_table_frames;
paddr_t frame_table_phys;
struct frame_stats frame_stats;

static int refuse(const char *kind, pfn_t pfn, vaddr_t caller) {
  frame_stats.errors++;
  frame_stats.last_error_caller = caller;
  krecord("FRAME error=%s pfn=%p refs=%u caller=%p\n", kind, (void *)pfn, frame_refs(pfn),
          (void *)caller);
  return -EINVAL;
}

void frame_table_init(void) {
  uint32_t frames = pmm_stats.frame_count;
  uint32_t bytes = ALIGN_UP(frames * (uint32_t)sizeof(struct frame_info), FRAME_SIZE);
  /* The buddy maps do not exist yet (pmm_buddy_init comes after, and needs
   * this table for the zones): allocate_pages takes the lowest run here, so
   * below the direct map's end whenever one exists there. */
  paddr_t pa = (paddr_t)allocate_pages(bytes / FRAME_SIZE);
  if (!pa || pa + bytes > DIRECT_MAP_LIMIT)
    PANIC("no %u KiB run of low frames for the frame table", bytes >> 10);
  frame_table = P2V(pa);
  memset(frame_table, 0, bytes);
  frame_table_frames = frames;
  frame_table_phys = pa;
  krecord("FRAME table=%p frames=%u bytes=%u\n", (void *)pa, frames, bytes);
}

int frame_ref(pfn_t pfn) {
  if (pfn >= frame_table_frames) return refuse("out-of-range", pfn, CALLER());
  if (frame_table[pfn].refs == FRAME_REFS_MAX) return refuse("overflow", pfn, CALLER());
  frame_table[pfn].refs++;
  frame_stats.refs_taken++;
  return 0;
}

int frame_unref(pfn_t pfn) {
  if (pfn >= frame_table_frames) return refuse("out-of-range", pfn, CALLER());
  struct frame_info *f = &frame_table[pfn];
  if (f->refs == 0) return refuse("no-reference", pfn, CALLER());
  frame_stats.refs_dropped++;
  if (--f->refs) return 0;
  f->flags = 0;
  frame_stats.freed++;
  pmm_free_frame(pfn);
  return 0;
}

uint32_t frame_refs(pfn_t pfn) { return pfn < frame_table_frames ? frame_table[pfn].refs : 0; }
