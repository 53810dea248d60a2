/* Reclaim: what the kernel does when a user frame cannot be had.
 *
 * reclaim_frames(want) is the one entry point (reclaim_frames_on(want,
 * nodes) when only some NUMA nodes' frames help).  It frees frames in this
 * order, stopping as soon as `want` more are free on those nodes:
 *   -. first, always: every CPU's frame cache (pcp_drain_all, mm/pcp.h),
 *   0. the kernel heap's quick lists (heap_quick_flush, mm/heap.h): parked
 *      blocks merge and big free blocks give their pages back,
 *   1. clean buffers of the buffer cache (bcache_reclaim, fs/bcache.h),
 *   2. file pages no process maps (pagecache_reclaim, fs/pagecache.h),
 *   3. user pages swapped out by the clock (swap_out_pages, mm/swap.h),
 *      only pages whose frames lie on those nodes.
 * What it returns, and what counts as progress, is the frames gained on
 * those nodes: the heap and the caches free frames wherever they were.
 *
 * Out of memory.  When reclaim frees nothing, RAM and swap are both
 * exhausted (no evictable page, or no free slot and no room in the pool).
 * The victim is the live process with the most pages, resident plus swapped
 * (ties: the lowest process-table slot); never the kernel.  Two records:
 * what reclaim has done since boot, then the victim
 *   RECLAIM got=0 calls=<n> heap=<frames> bcache=<frames> pagecache=<frames>
 *           swapped=<pages> failed=<calls that freed nothing> free=<free frames>
 *           nodes=<mask the allocation may use> free_there=<free frames there>
 * (free may be large while free_there is 0: a process bound to a full node).
 *   OOM pid=<n> name=<name> pages=<resident> swapped=<n>
 * When the victim is the process whose allocation failed, the allocation
 * fails: a user-mode fault kills it with reason out-of-memory; a system call
 * (a copy into its memory, mmap, fork, exec, shared memory) returns its
 * error (-ENOMEM, or the copy's -EFAULT).  Another victim is asked to end
 * (reason out-of-memory, proc_kill_request's mechanism) and the allocation
 * fails too, with reclaim_victim_leaving set: reclaim never switches
 * processes (its callers hold kmap slots, buffers, half-built images).  Only
 * the page-fault handler, for a user-mode fault, yields then (nothing is
 * held there) and lets the instruction fault again once the victim has
 * ended; every other caller sees the failure.  While a victim has yet to
 * end, no other is chosen: the allocation fails with the flag set again.
 * Without a current process (spawn from the kernel) the allocation fails.
 *
 * A user allocation that finds RECLAIM_RESERVE frames or fewer free reclaims
 * first, so the kernel keeps a few frames for the work swap-out needs.
 * Then it reclaims on the nodes its policy allows (numa_allowed_nodes,
 * mm/numa.h) until the allocation succeeds or a call gains nothing there.
 *
 * Callers: every user-frame allocation (demand and stack faults, COW copies,
 * swap-in, mmap, program loading, shared memory) goes through
 * reclaim_user_frame; a user page table that cannot be had calls
 * reclaim_frames(1) and tries once more. */
#pragma once

#include "types.h"

#define RECLAIM_BATCH 16u  /* frames one reclaim asks for: fewer trips through the clock */
/* Free frames below which a user allocation reclaims first: the kernel's
 * reserve (the pool's entries, page tables, the heap need frames while swap
 * makes room).  When reclaim frees nothing, users take the reserve too. */
#define RECLAIM_RESERVE 64u

struct reclaim_stats {
  uint32_t calls;            /* reclaim_frames */
  uint32_t wanted;           /* frames asked for, in total */
  uint32_t from_bcache;      /* frames given back by the buffer cache */
  uint32_t from_pagecache;   /* by the page cache */
  uint32_t swapped_out;      /* pages the clock evicted for reclaim */
  uint32_t from_heap;        /* by the heap's quick lists */
  uint32_t failed;           /* calls that freed nothing (on the nodes asked for) */
  uint32_t oom_kills;        /* OOM victims chosen */
  uint32_t from_pcp;         /* frames drained from the per-CPU frame caches (mm/pcp.h) */
};
extern struct reclaim_stats reclaim_stats;

#define RECLAIM_ANY_NODE 0xFFFFFFFFu

/* Frees up to `want` frames (see above): how many it freed. */
uint32_t reclaim_frames(uint32_t want);
/* The same, counting (and swapping out) only frames on the nodes of mask
 * `nodes`: how many more are free there. */
uint32_t reclaim_frames_on(uint32_t want, uint32_t nodes);
/* pmm_alloc_user_frame, reclaiming and applying the OOM rule when there is
 * none: the frame number, or 0 (the caller is the OOM victim, another victim
 * is on its way out, or there is no process to blame). */
pfn_t reclaim_user_frame(void);
/* Set by reclaim_user_frame when it failed because another process (the OOM
 * victim) is ending and will free its pages; cleared by its next call. */
extern bool reclaim_victim_leaving;
