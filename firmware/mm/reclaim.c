/* Reclaim and the out-of-memory rule (see include/mm/reclaim.h). */
#include "mm/reclaim.h"
#include "fs/bcache.h"
#include "kernel/kprintf.h"
#include "kernel/proc.h"
#include "mm/heap.h"
#include "mm/numa.h"
#include "mm/pcp.h"
#include "mm/pmm.h"
#include "fs/pagecache.h"
#include "mm/swap.h"

struct reclaim_stats reclaim_stats;

/* reclaim_frames runs the clock, which may need a page table or a pool
 * entry: an allocation inside it that fails must not reclaim again. */
static bool reclaiming;

/* Free frames on the nodes of mask `nodes`. */
static uint32_t free_on(uint32_t nodes) {
  uint32_t all = (1u << pmm_node_count) - 1;
  if ((nodes & all) == all) return pmm_stats.free_frames;
  uint32_t free = 0;
  for (uint32_t n = 0; n < pmm_node_count; n++)
    if (nodes & (1u << n)) free += pmm_node_free(n);
  return free;
}

/* Frames gained on `nodes` since they had `before` free (0 when fewer: the
 * clock's own allocations, such as swap's slot map, may use some). */
static uint32_t gained(uint32_t nodes, uint32_t before) {
  uint32_t now = free_on(nodes);
  return now > before ? now - before : 0;
}

uint32_t reclaim_frames_on(uint32_t want, uint32_t nodes) {
  if (reclaiming || want == 0) return 0;
  reclaiming = true;
  reclaim_stats.calls++;
  reclaim_stats.wanted += want;
  uint32_t total_before = pmm_stats.free_frames, before = free_on(nodes), got;
  reclaim_stats.from_pcp += pcp_drain_all(); /* frames cached only for speed go first */
  total_before = pmm_stats.free_frames;
  heap_quick_flush(); /* then what the heap keeps only for speed */
  reclaim_stats.from_heap +=
      pmm_stats.free_frames > total_before ? pmm_stats.free_frames - total_before : 0;
  if ((got = gained(nodes, before)) < want)
    reclaim_stats.from_bcache += bcache_reclaim(want - got);
  if ((got = gained(nodes, before)) < want)
    reclaim_stats.from_pagecache += pagecache_reclaim(want - got);
  if ((got = gained(nodes, before)) < want)
    reclaim_stats.swapped_out += swap_out_pages(want - got, nodes);
  got = gained(nodes, before);
  if (!got) reclaim_stats.failed++;
  reclaiming = false;
  return got;
}

uint32_t reclaim_frames(uint32_t want) {
  return reclaim_frames_on(want, RECLAIM_ANY_NODE);
}

bool reclaim_victim_leaving;

/* The OOM victim: the live process with the most resident + swapped pages. */
static struct process *oom_victim(void) {
  struct process *victim = NULL;
  for (uint32_t i = 0; i < PROC_MAX; i++) {
    struct process *p = &proc_table[i];
    if (p->state != PROC_READY && p->state != PROC_RUNNING && p->state != PROC_BLOCKED) continue;
    if (p->kill_pending) continue; /* already on its way out */
    if (!victim || p->mm.pages + p->mm.swapped_pages > victim->mm.pages + victim->mm.swapped_pages)
      victim = p;
  }
  return victim;
}

/* Whether an earlier victim (not current) has yet to end and free its
 * pages: then no other process dies for the same shortage. */
static bool victim_on_its_way(void) {
  for (uint32_t i = 0; i < PROC_MAX; i++) {
    struct process *p = &proc_table[i];
    if (p != current && p->kill_pending == PROC_KILL_OOM &&
        (p->state == PROC_READY || p->state == PROC_RUNNING || p->state == PROC_BLOCKED))
      return true;
  }
  return false;
}

pfn_t reclaim_user_frame(void) {
  reclaim_victim_leaving = false;
  /* The reserve is the kernel's while reclaim can still free frames: the
   * pool, page tables and the heap need some to make room. */
  if (pmm_stats.free_frames <= RECLAIM_RESERVE) reclaim_frames(RECLAIM_BATCH);
  /* Only frames freed where the policy may allocate are progress: a process
   * bound to a full node goes to the OOM rule after one pass of the clock
   * over that node's pages, not after draining every other node. */
  uint32_t nodes = numa_allowed_nodes();
  for (;;) {
    pfn_t pfn = pmm_alloc_user_frame();
    if (pfn) return pfn;
    if (reclaiming) return 0; /* inside reclaim itself: never recurse */
    if (reclaim_frames_on(RECLAIM_BATCH, nodes)) continue;
    break;
  }
  if (!current) return 0;
  if (victim_on_its_way()) {
    reclaim_victim_leaving = true;
    return 0;
  }
  struct process *victim = oom_victim();
  if (!victim) return 0;
  krecord("RECLAIM got=0 calls=%u heap=%u bcache=%u pagecache=%u swapped=%u failed=%u free=%u "
          "nodes=0x%x free_there=%u\n",
          reclaim_stats.calls, reclaim_stats.from_heap, reclaim_stats.from_bcache,
          reclaim_stats.from_pagecache, reclaim_stats.swapped_out, reclaim_stats.failed,
          pmm_stats.free_frames, nodes & ((1u << pmm_node_count) - 1), free_on(nodes));
  reclaim_stats.oom_kills++;
  krecord("OOM pid=%u name=%pq pages=%u swapped=%u\n", victim->pid, victim->name,
          victim->mm.pages, victim->mm.swapped_pages);
  if (victim == current) return 0; /* a user fault kills it: out-of-memory */
  /* Never switch here: the caller may hold a kmap slot, a buffer or a
   * half-built image.  The victim ends when it next runs; the page-fault
   * handler yields to it for a user fault (reclaim_victim_leaving). */
  victim->kill_pending = PROC_KILL_OOM;
  if (victim->state == PROC_BLOCKED) victim->state = PROC_READY;
  reclaim_victim_leaving = true;
  return 0;
}
