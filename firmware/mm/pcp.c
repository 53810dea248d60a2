/* Per-CPU frame caches: see include/mm/pcp.h.
 *
 * The default is off (`pcp=on` turns it on).  In this wave the scheduler,
 * processes and all of mm still run on CPU 0 only, so a cache saves no lock
 * contention yet, while with it on up to PCP_MAX frames per CPU sit used in
 * the bitmap: every exact count of free frames (leak checks, reclaim
 * thresholds, the OOM tests) would have to allow for them.  It is meant to
 * go on by default with the scheduler on every CPU (F7), when the PMM's lock
 * becomes the contended one.
 *
 * Only pmm_lock protects the PMM here (refill, drain, the starved path); the
 * PMM's other callers take no lock yet: that is the next wave's lock pass,
 * and until then only CPU 0 calls them. */
#include "mm/pcp.h"
#include "arch/i386/cpu.h"
#include "kernel/cmdline.h"
#include "kernel/ipi.h"
#include "kernel/kprintf.h"
#include "kernel/panic.h"
#include "kernel/smp.h"
#include "memlayout.h"
#include "mm/frame.h"
#include "mm/pmm.h"

bool pcp_enabled;
struct spinlock pcp_drain_lock = SPINLOCK_INIT(LOCK_PCP);

void pcp_init(void) { pcp_enabled = cmdline_bool("pcp", false); }

static inline struct pcp *this_pcp(void) { return &this_cpu()->frames; }

/* Up to PCP_BATCH frames from the PMM, lowest first, pushed so that the
 * lowest ends on top.  p is this CPU's and empty (a drain asked for while it
 * waits for pmm_lock finds nothing).  Whether it got any. */
static __attribute__((noinline)) bool refill(struct pcp *p) {
  pfn_t got[PCP_BATCH];
  uint32_t n = 0;
  spin_lock(&pmm_lock);
  for (void *page; n < PCP_BATCH && (page = pmm_alloc_lowest()) != NULL;)
    got[n++] = (paddr_t)page >> FRAME_SHIFT;
  spin_unlock(&pmm_lock);
  for (uint32_t i = 0; i < n; i++) {
    p->pfns[i] = got[n - 1 - i];
    frame_table[got[i]].flags |= FRAME_PCP;
  }
  p->count = n;
  if (!n) return false;
  p->stats.refills++;
  p->stats.refilled += n;
  return true;
}

/* n frames to the PMM; `caller` is whom it names if it refuses one. */
static void give_back(const pfn_t *pfns, uint32_t n, vaddr_t caller) {
  spin_lock(&pmm_lock);
  for (uint32_t i = 0; i < n; i++) {
    frame_table[pfns[i]].flags &= ~FRAME_PCP;
    pmm_free_lowest((paddr_t)pfns[i] << FRAME_SHIFT, caller);
  }
  spin_unlock(&pmm_lock);
}

/* Entries [0, n) leave p (n > 0) and the ones above move down: one drain in
 * the stats. */
static void take_bottom(struct pcp *p, uint32_t n) {
  for (uint32_t i = n; i < p->count; i++) p->pfns[i - n] = p->pfns[i];
  p->count -= n;
  p->stats.drains++;
  p->stats.drained += n;
}

/* The owner's answer to a drain request: every frame to the asker's
 * drain_to, how many in drain_gave, then the ack.  Not while busy: the
 * drain in progress serves it when it is done. */
static void serve_drain(struct pcp *p) {
  uint32_t asked = p->drain_asked;
  if (asked == p->drain_done || p->busy) return;
  uint32_t n = p->count;
  for (uint32_t i = 0; i < n; i++) p->drain_to[i] = p->pfns[i];
  if (n) take_bottom(p, n);
  p->drain_gave = n;
  __asm__ volatile("" ::: "memory"); /* the frames before the ack (x86 keeps stores in order) */
  p->drain_done = asked;
}

void pcp_serve_drain(void) { serve_drain(this_pcp()); }

/* The bottom n entries of p (this CPU's, or one whose CPU runs no kernel
 * code) go back to the PMM, and only then leave the cache: busy meanwhile,
 * so a drain asked for while it waits for pmm_lock cannot give them away a
 * second time; that request is served after, from what is left. */
static void drain_own(struct pcp *p, uint32_t n) {
  if (!n) return;
  p->busy = 1;
  give_back(p->pfns, n, CALLER());
  take_bottom(p, n);
  __asm__ volatile("" ::: "memory"); /* the cache as it is now, before it says so */
  p->busy = 0;
  serve_drain(p);
}

static __attribute__((noreturn, noinline)) void no_drain(uint32_t cpu) {
  krecord("PCP error=no-drain cpu=%u asker=%u cached=%u\n", cpu, this_cpu()->index,
          cpus[cpu].frames.count);
  PANIC("cpu %u did not give up its frame cache", cpu);
}

/* Asks CPU `cpu` (online, not parked, not this one) for its frames and
 * gives them to the PMM: how many. */
static uint32_t drain_other(uint32_t cpu) {
  struct pcp *p = &cpus[cpu].frames;
  if (!p->count) return 0; /* a glance: a refill after it is the owner's to keep */
  pfn_t got[PCP_MAX];
  spin_lock(&pcp_drain_lock);
  p->drain_to = got;
  uint32_t asked = p->drain_asked + 1;
  p->drain_asked = asked;
  __atomic_fetch_or(&cpus[cpu].tlb_pending, TLB_PENDING_PCP_DRAIN, __ATOMIC_SEQ_CST);
  ipi_send(cpu, IPI_TLB);
  for (uint32_t spin = 0; p->drain_done != asked; spin++) {
    if (spin == spin_limit) no_drain(cpu);
    tlb_poll(); /* the owner may be waiting for this CPU's flush, or its frames */
    cpu_relax();
  }
  uint32_t n = p->drain_gave;
  spin_unlock(&pcp_drain_lock);
  if (n) give_back(got, n, CALLER());
  return n;
}

/* Neither this cache nor the PMM had a frame: every cache gives its frames
 * back, and the PMM is asked once more (it counts a failure). */
static __attribute__((noinline)) void *alloc_starved(void) {
  pcp_drain_all();
  spin_lock(&pmm_lock);
  void *page = pmm_alloc_lowest();
  spin_unlock(&pmm_lock);
  return page;
}

void *pcp_alloc(void) {
  struct pcp *p = this_pcp();
  if (__builtin_expect(p->count == 0, 0) && !refill(p)) return alloc_starved();
  pfn_t pfn = p->pfns[--p->count];
  frame_table[pfn].flags &= ~FRAME_PCP;
  p->stats.allocs++;
  return (void *)(pfn << FRAME_SHIFT);
}

/* Bit i of a bitmap, in one instruction (bt), as the PMM's own free path. */
static inline bool bit_set(const uint32_t *map, uint32_t i) {
  bool set;
  __asm__("bt %2, %1" : "=@ccc"(set) : "m"(*map), "r"(i));
  return set;
}

/* Sets a frame's FRAME_PCP and says whether it was set already, in one
 * instruction (bts on the entry's word: flags is its third byte). */
#define FRAME_PCP_BIT (16 + 6)
_Static_assert(__builtin_offsetof(struct frame_info, flags) == 2 && FRAME_PCP == 1 << 6,
               "FRAME_PCP is bit 22 of a frame_info word");
static inline bool mark_cached(struct frame_info *f) {
  bool was;
  __asm__("btsl %2, %1" : "=@ccc"(was), "+m"(*(uint32_t *)f) : "I"(FRAME_PCP_BIT));
  return was;
}

/* A full cache gives its older half back first. */
static __attribute__((noinline)) void drain_half(struct pcp *p) { drain_own(p, PCP_MAX / 2); }

static inline __attribute__((always_inline)) void free_into(void *page, vaddr_t caller) {
  paddr_t pa = (paddr_t)page;
  pfn_t pfn = pa >> FRAME_SHIFT;
  /* Only a frame the PMM would take back is cached: aligned, in the bitmap,
   * used and not reserved; the PMM refuses the rest and says why. */
  if (__builtin_expect((pa & (FRAME_SIZE - 1)) || pfn >= pmm_stats.frame_count ||
                           !bit_set(pmm_bitmap, pfn) || bit_set(pmm_reserved, pfn), 0)) {
    spin_lock(&pmm_lock);
    pmm_free_lowest(pa, caller);
    spin_unlock(&pmm_lock);
    return;
  }
  /* A cached frame is used in the bitmap too: its flag tells a second free. */
  if (__builtin_expect(mark_cached(&frame_table[pfn]), 0)) {
    spin_lock(&pmm_lock);
    pmm_refuse_double_free(pa, caller);
    spin_unlock(&pmm_lock);
    return;
  }
  struct pcp *p = this_pcp();
  if (__builtin_expect(p->count == PCP_MAX, 0)) drain_half(p);
  p->pfns[p->count++] = pfn;
  p->stats.frees++;
}

void pcp_free_from(void *page, vaddr_t caller) { free_into(page, caller); }
void pcp_free(void *page) { free_into(page, CALLER()); }

uint32_t pcp_drain_cpu(uint32_t cpu) {
  if (cpu >= CPU_MAX) return 0;
  struct cpu *c = &cpus[cpu];
  if (c != this_cpu() && cpu_is_online(cpu) && !c->parked) return drain_other(cpu);
  uint32_t n = c->frames.count;
  drain_own(&c->frames, n);
  return n;
}

uint32_t pcp_drain_all(void) {
  uint32_t n = 0;
  for (uint32_t cpu = 0; cpu < CPU_MAX; cpu++) n += pcp_drain_cpu(cpu);
  return n;
}

/* Out of line and only with frames to give: a test can stop a CPU here. */
static __attribute__((noinline)) void idle_drain(void) { pcp_drain_cpu(this_cpu()->index); }

void pcp_idle(void) {
  if (this_pcp()->count) idle_drain();
}

/* -- test entries (tests/pmm/test_pcp.py) ------------------------------------ */

#define PCP_TEST_TAKE 3
paddr_t pcp_test_taken[PCP_TEST_TAKE];

/* A place for a test to stop the CPU that just took its frames. */
HARNESS_VISIBLE void pcp_test_hold(void) { __asm__ volatile("" ::: "memory"); }

/* Run on a CPU by ipi_test_call_on: PCP_TEST_TAKE frames from that CPU's
 * cache, kept in pcp_test_taken (nobody frees them). */
HARNESS_VISIBLE void pcp_test_take(void) {
  for (uint32_t i = 0; i < PCP_TEST_TAKE; i++) pcp_test_taken[i] = (paddr_t)pcp_alloc();
  pcp_test_hold();
}

/* Waits (pausing) until CPU `cpu`'s cache is empty and not busy, as its idle
 * loop leaves it: the frames still cached then (0: drained).  count first:
 * once it reads 0, busy reads 0 only after the frames are back in the PMM. */
HARNESS_VISIBLE uint32_t pcp_test_wait_drained(uint32_t cpu) {
  struct pcp *p = &cpus[cpu % CPU_MAX].frames;
  for (uint32_t spin = 0; spin < SPIN_LIMIT; spin++) {
    if (!*(volatile uint32_t *)&p->count && !p->busy) break;
    tlb_poll();
    cpu_relax();
  }
  return p->count;
}

volatile uint32_t pcp_test_holding, pcp_test_release, pcp_test_deaf;

/* Run on an AP: takes its frames as pcp_test_take, then keeps them in its
 * cache, busy (not idle, so not drained) until pcp_test_release is set.  It
 * waits as kernel code waits with interrupts off, polling its requests, so
 * another CPU's drain reaches it; unless deaf, as a CPU stuck with
 * interrupts off that polls nothing. */
static void take_and_hold(void) {
  pcp_test_take();
  pcp_test_holding = 1;
  while (!pcp_test_release) {
    if (!pcp_test_deaf) tlb_poll();
    cpu_relax();
  }
}

/* Starts take_and_hold on CPU `cpu` and returns once it holds its frames
 * (false: no such CPU online).  The call IPI's own sender would wait for
 * take_and_hold to return, which it does only when released. */
HARNESS_VISIBLE bool pcp_test_hold_on(uint32_t cpu, bool deaf) {
  if (!cpu_is_other_online(cpu)) return false;
  pcp_test_holding = pcp_test_release = 0;
  pcp_test_deaf = deaf;
  cpus[cpu].call = take_and_hold;
  ipi_send(cpu, IPI_CALL);
  while (!pcp_test_holding) cpu_relax();
  return true;
}

/* pcp_test_race: every online CPU at once, `rounds` times, takes
 * PCP_RACE_BURST frames through its own cache (more than a batch, so it
 * refills), stamps each with its CPU, round and slot, reads every stamp back
 * once all are written, and frees them (more than fit, so a full cache
 * drains half); CPU 0 also asks every other CPU for its cache each round, so
 * the requests land anywhere in the others' work, their refills' and
 * drains' waits for pmm_lock included (when the host runs the vCPUs side by
 * side), and empties every other cache at the end.  A frame held by two CPUs
 * at once shows as a stamp the other one wrote.  Returns the wrong stamps
 * seen (and the rounds that found no frame: the machine must have room for
 * them all); pcp_test_race_cpus says how many CPUs ran, and
 * pcp_test_race_checked how many stamps were read back. */
#define PCP_RACE_BURST 72
static volatile uint32_t race_rounds, race_arrived, race_done, race_wrong;

static void pcp_drain_others(void) {
  for (uint32_t cpu = 1; cpu < CPU_MAX; cpu++) pcp_drain_cpu(cpu);
}
volatile uint32_t pcp_test_race_cpus, pcp_test_race_checked;

static uint32_t online_cpus(void) {
  uint32_t n = 0;
  for (uint32_t mask = cpu_online_mask; mask; mask &= mask - 1) n++;
  return n;
}

static void race(void) {
  uint32_t me = this_cpu()->index;
  __atomic_fetch_add(&race_arrived, 1, __ATOMIC_SEQ_CST);
  while (race_arrived != online_cpus()) {
    tlb_poll();
    cpu_relax();
  }
  volatile uint32_t *got[PCP_RACE_BURST];
  for (uint32_t r = 0; r < race_rounds; r++) {
    uint32_t n = 0;
    for (void *pa; n < PCP_RACE_BURST && (pa = pcp_alloc()) != NULL; n++) {
      got[n] = P2V((paddr_t)pa);
      *got[n] = me << 24 | r << 8 | n;
    }
    if (n < PCP_RACE_BURST) __atomic_fetch_add(&race_wrong, 1, __ATOMIC_SEQ_CST); /* none left */
    for (uint32_t i = 0; i < n; i++) {
      if (*got[i] != (me << 24 | r << 8 | i)) __atomic_fetch_add(&race_wrong, 1, __ATOMIC_SEQ_CST);
      __atomic_fetch_add(&pcp_test_race_checked, 1, __ATOMIC_SEQ_CST);
    }
    for (uint32_t i = 0; i < n; i++) pcp_free((void *)V2P((void *)got[i]));
    if (me == 0) pcp_drain_others();
    tlb_poll();
  }
  /* The host may run one vCPU's whole loop in one time slice, so requests
   * meet the others' work only when it runs them side by side.  At least
   * one meets each other CPU's cache: they stay (not idle, which would
   * drain it) until CPU 0 has emptied it, and CPU 0 asks until all are done
   * and once more after. */
  __atomic_fetch_add(&race_done, 1, __ATOMIC_SEQ_CST);
  while (race_done != online_cpus() || (me != 0 && this_pcp()->count)) {
    if (me == 0) pcp_drain_others();
    tlb_poll();
    cpu_relax();
  }
  if (me == 0) pcp_drain_others();
}

HARNESS_VISIBLE uint32_t pcp_test_race(uint32_t rounds) {
  race_rounds = rounds;
  race_arrived = race_done = race_wrong = pcp_test_race_checked = 0;
  pcp_test_race_cpus = ipi_test_call_everywhere(race);
  return race_wrong;
}
