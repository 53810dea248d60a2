/* Per-CPU frame caches in front of the PMM (issue 20, DESIGN.md 4.5).
 *
 * Each CPU keeps a small stack of free frames of its own, so a single-frame
 * allocation or free touches only its own cache instead of taking the PMM's
 * lock, which every CPU shares.  pcp_alloc pops the top frame; an empty
 * cache is refilled first with PCP_BATCH frames from the PMM, taken lowest
 * first and pushed so that the lowest is on top: a run of allocations with
 * no frees in between still returns increasing addresses, as allocate_page
 * does without the cache.  pcp_free pushes; a full cache first gives its
 * older half (the bottom PCP_MAX / 2 entries) back to the PMM.
 *
 * Only its own CPU changes a cache, so the fast path takes no lock: the
 * kernel runs with interrupts off outside ring 3 and its `sti; hlt`
 * windows, and nothing between a cache operation's load and store lets
 * another request in.  Another CPU that wants a cache's frames (a starved
 * allocation, reclaim) asks the owner: it takes pcp_drain_lock (one asker
 * at a time), says where to put them, sets the drain bit of the owner's
 * tlb_pending and sends IPI_TLB, then waits, polling its own requests, until
 * the owner has moved its frames there and acknowledged; the asker gives
 * them to the PMM.  The owner serves the request in tlb_poll, the poll every
 * wait with interrupts off already makes (kernel/tlb.h), or in the IPI's
 * handler.  A CPU that never answers within spin_limit pauses (stopped with
 * interrupts off, not polling) is recorded and the kernel panics:
 *   PCP error=no-drain cpu=<owner> asker=<cpu> cached=<frames it holds>
 * A CPU that runs no kernel code (not online, or parked by a panic) has its
 * cache drained by the asker directly.
 *
 * A cached frame is used in the PMM's bitmap with no references and the
 * frame table's FRAME_PCP flag (mm/frame.h): the PMM sees an allocated frame
 * nobody holds, and a free of a frame that has the flag is a double free,
 * refused and reported as the PMM reports one (PMM error=double-free).  The harness's
 * audits read every CPU's cache from guest RAM and count those frames as
 * free (harness/targets/mmverify/pcp_audit.py).
 *
 * Caches give their frames back (drain) on pressure (reclaim_frames drains
 * every CPU's, and an allocation the PMM cannot serve drains them before it
 * fails), when a CPU goes idle, and on heap_trim.  Lock order:
 * pcp_drain_lock, then pmm_lock (LOCK_PCP before LOCK_PMM).
 *
 * `pcp=on` on the kernel command line routes allocate_page and free_page
 * through the cache; the default is off (see pcp.c for why).  pcp_alloc and
 * pcp_free work whatever the switch says. */
#pragma once

#include "kernel/spinlock.h"
#include "types.h"

#define PCP_MAX 64   /* frames a cache holds */
#define PCP_BATCH 16 /* frames a refill takes from the PMM */

/* Per CPU; only its own CPU writes them, like the frames (a drain another
 * CPU asked for counts in the drained CPU's stats; so does one done for a
 * CPU that runs no kernel code).  Outside a cache operation
 *   count == refilled + frees - allocs - drained. */
struct pcp_stats {
  uint32_t allocs;   /* frames pcp_alloc handed out from the cache */
  uint32_t frees;    /* frames pcp_free pushed */
  uint32_t refills;  /* times the cache was empty and refilled */
  uint32_t refilled; /* frames those refills took from the PMM */
  uint32_t drains;   /* times frames went back to the PMM (full, pressure, idle, trim) */
  uint32_t drained;  /* frames they gave back */
};

struct pcp {
  uint32_t count;        /* frames in pfns[0 .. count): the top is pfns[count - 1] */
  pfn_t pfns[PCP_MAX];
  struct pcp_stats stats;
  /* A drain another CPU asked for (under pcp_drain_lock): the asker writes
   * drain_to, then bumps drain_asked; the owner moves its frames to
   * drain_to, writes how many in drain_gave, then drain_done = drain_asked. */
  pfn_t *volatile drain_to;
  volatile uint32_t drain_asked;
  volatile uint32_t drain_done;
  volatile uint32_t drain_gave;
  /* The owner is giving frames back to the PMM itself: a request waits until
   * it is done (the frames are still in pfns[], and in the PMM too). */
  volatile uint32_t busy;
};

/* One asker at a time (LOCK_PCP): each cache has one request slot. */
extern struct spinlock pcp_drain_lock;

/* Each CPU's is struct cpu's `frames` (kernel/smp.h): cpus[i].frames. */
/* Whether allocate_page and free_page go through the caches (`pcp=on`). */
extern bool pcp_enabled;

/* Reads the switch (the harness reads pcp_enabled from RAM). */
void pcp_init(void);

/* A frame below 4 GiB (its physical address) from this CPU's cache, or NULL
 * when neither the PMM nor any cache has one (counted as the PMM's failed
 * allocation). */
void *pcp_alloc(void);
/* Gives a frame back to this CPU's cache.  A frame the PMM would refuse
 * (unaligned, outside the bitmap, reserved, already free) goes to the PMM's
 * checks instead and is reported there, and one a cache already holds is
 * reported as the double free it is; nothing is cached. */
void pcp_free(void *page);
/* The same, with the caller the PMM reports for a refused frame. */
void pcp_free_from(void *page, vaddr_t caller);

/* Gives every frame of CPU `cpu`'s cache back to the PMM: how many. */
uint32_t pcp_drain_cpu(uint32_t cpu);
/* The same for every CPU's cache: how many in all. */
uint32_t pcp_drain_all(void);
/* For idle loops: drains this CPU's cache if it holds anything. */
void pcp_idle(void);
/* From tlb_serve (kernel/tlb.h), on the owner: answers a drain request. */
void pcp_serve_drain(void);
