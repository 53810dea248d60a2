/* Reclaim and the out-of-memory rule (see include/mm/reclaim.h). */
#include "mm/reclaim.h"
#include "fs/bcache.h"
#include "kernel/kprintf.h"
#include "kernel/proc.h"
#include "mm/pmm.h"
#include "mm/swap.h"
/* The page cache (the fs helper's) once it is built in. */
#if __has_include("fs/pagecache.h")
#include "fs/pagecache.h"
static uint32_t unmapped_file_pages(uint32_t want) { return pagecache_reclaim(want); }
#else
static uint32_t unmapped_file_pages(uint32_t want) { return want - want; }
#endif

struct reclaim_stats reclaim_stats;

/* reclaim_frames runs the clock, which may need a page table or a pool
 * entry: an allocation inside it that fails must not reclaim again. */
static bool reclaiming;

uint32_t reclaim_frames(uint32_t want) {
  if (reclaiming || want == 0) return 0;
  reclaiming = true;
  reclaim_stats.calls++;
  reclaim_stats.wanted += want;
  uint32_t got = 0, n;
  n = bcache_reclaim(want);
  reclaim_stats.from_bcache += n;
  got += n;
  if (got < want) {
    n = unmapped_file_pages(want - got);
    reclaim_stats.from_pagecache += n;
    got += n;
  }
  if (got < want) {
    n = swap_out_pages(want - got);
    reclaim_stats.swapped_out += n;
    got += n;
  }
  if (!got) reclaim_stats.failed++;
  reclaiming = false;
  return got;
}

/* The OOM victim: the live process with the most resident + swapped pages. */
static struct process *oom_victim(void) {
  struct process *victim = NULL;
  for (uint32_t i = 0; i < PROC_MAX; i++) {
    struct process *p = &proc_table[i];
    if (p->state != PROC_READY && p->state != PROC_RUNNING && p->state != PROC_BLOCKED) continue;
    if (p->kill_pending) continue; /* already on its way out */
    if (!victim || p->pages + p->swapped_pages > victim->pages + victim->swapped_pages)
      victim = p;
  }
  return victim;
}

/* How many times one allocation lets another victim go before it gives up
 * (each victim frees its pages when it ends). */
#define OOM_TRIES PROC_MAX

pfn_t reclaim_user_frame(void) {
  /* The reserve is the kernel's while reclaim can still free frames: the
   * pool, page tables and the heap need some to make room. */
  if (pmm_stats.free_frames <= RECLAIM_RESERVE) reclaim_frames(RECLAIM_BATCH);
  for (uint32_t tries = 0;; tries++) {
    pfn_t pfn = pmm_alloc_user_frame();
    if (pfn) return pfn;
    if (reclaiming) return 0; /* inside reclaim itself: never recurse */
    if (reclaim_frames(RECLAIM_BATCH)) continue;
    struct process *victim = oom_victim();
    if (!victim || !current || tries >= OOM_TRIES) return 0;
    krecord("RECLAIM got=0 calls=%u bcache=%u pagecache=%u swapped=%u failed=%u free=%u\n",
            reclaim_stats.calls, reclaim_stats.from_bcache, reclaim_stats.from_pagecache,
            reclaim_stats.swapped_out, reclaim_stats.failed, pmm_stats.free_frames);
    reclaim_stats.oom_kills++;
    krecord("OOM pid=%u name=%pq pages=%u swapped=%u\n", victim->pid, victim->name,
            victim->pages, victim->swapped_pages);
    if (victim == current) return 0; /* the fault kills it: out-of-memory */
    victim->kill_pending = PROC_KILL_OOM;
    if (victim->state == PROC_BLOCKED) victim->state = PROC_READY;
    sched_yield(); /* it runs, ends and frees its pages; then try again */
  }
}
