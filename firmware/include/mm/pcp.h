/* Per-CPU frame caches in front of the PMM (issue 20, DESIGN.md 4.5).
 *
 * Each CPU keeps a small stack of free frames of its own, so a single-frame
 * allocation or free takes only its own cache's lock, which no other CPU
 * touches on the fast path, instead of the PMM's lock, which every CPU
 * shares.  pcp_alloc pops the top frame; an empty cache is refilled first
 * with PCP_BATCH frames from the PMM, taken lowest first and pushed so that
 * the lowest is on top: a run of allocations with no frees in between
 * still returns increasing addresses, as allocate_page does without the
 * cache.  pcp_free pushes; a full cache first gives its older half (the
 * bottom PCP_MAX / 2 entries) back to the PMM.
 *
 * A cached frame is used in the PMM's bitmap with no references: the PMM
 * and the frame table see an allocated frame nobody holds.  The harness's
 * audits read every CPU's cache from guest RAM and count those frames as
 * free (harness/targets/mmverify/pcp_audit.py).
 *
 * Caches give their frames back (drain) on pressure (reclaim_frames drains
 * every CPU's, and an allocation the PMM cannot serve drains them before it
 * fails), when a CPU goes idle, and on heap_trim.  Lock order: a cache's
 * lock, then pmm_lock (LOCK_PCP before LOCK_PMM); no code holds two caches'
 * locks at once.
 *
 * `pcp=on` on the kernel command line routes allocate_page and free_page
 * through the cache; the default is off (see pcp.c for why).  pcp_alloc and
 * pcp_free work whatever the switch says. */
#pragma once

#include "kernel/spinlock.h"
#include "types.h"

#define PCP_MAX 64   /* frames a cache holds */
#define PCP_BATCH 16 /* frames a refill takes from the PMM */

/* Per CPU; only its own CPU writes them (under the cache's lock, like the
 * frames: a remote drain counts in the drained CPU's stats).  At any time
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
  struct spinlock lock;
  uint32_t count;        /* frames in pfns[0 .. count): the top is pfns[count - 1] */
  pfn_t pfns[PCP_MAX];
  struct pcp_stats stats;
};

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
 * checks instead and is reported there; nothing is cached. */
void pcp_free(void *page);
/* The same, with the caller the PMM reports for a refused frame. */
void pcp_free_from(void *page, vaddr_t caller);

/* Gives every frame of CPU `cpu`'s cache back to the PMM: how many. */
uint32_t pcp_drain_cpu(uint32_t cpu);
/* The same for every CPU's cache: how many in all. */
uint32_t pcp_drain_all(void);
/* For idle loops: drains this CPU's cache if it holds anything. */
void pcp_idle(void);
