/* The lock-order checker: see include/kernel/lockdep.h. */
#include "kernel/lockdep.h"
#include "kernel/cmdline.h"
#include "kernel/kprintf.h"
#include "kernel/panic.h"
#include "kernel/smp.h"
#include "kernel/spinlock.h"

/* On until the command line says otherwise: the tests run with it. */
bool lockdebug = true;

const char *const lock_class_name[LOCK_CLASSES] = {
    [LOCK_NONE] = "none",          [LOCK_SCHED] = "sched",
    [LOCK_MM] = "mm",              [LOCK_SHM] = "shm",
    [LOCK_FILE] = "file",          [LOCK_PAGECACHE] = "pagecache",
    [LOCK_SWAP] = "swap",          [LOCK_ZSWAP] = "zswap",
    [LOCK_BCACHE] = "bcache",      [LOCK_BLK] = "blk",
    [LOCK_RTC] = "rtc",            [LOCK_PCI] = "pci",
    [LOCK_PIC] = "pic",            [LOCK_HEAP_CLASS] = "heap_class",
    [LOCK_HEAP_LARGE] = "heap_large", [LOCK_VMM_KERNEL] = "vmm_kernel",
    [LOCK_POOL] = "pool",          [LOCK_PCP] = "pcp",
    [LOCK_PMM] = "pmm",            [LOCK_RECORD] = "record",
    [LOCK_TEST_A] = "test_a",      [LOCK_TEST_B] = "test_b",
    [LOCK_TEST_C] = "test_c",
};

/* Bit b of taken_under[a]: a class-b lock was taken while a class-a lock was
 * held ("a before b"); first_site[a][b]: where that b was first taken.  The
 * site is written before the bit (x86 keeps stores in order), so whoever
 * sees the bit sees the site; two CPUs racing to be first both write a
 * real sighting. */
static volatile uint32_t taken_under[LOCK_CLASSES];
static volatile vaddr_t first_site[LOCK_CLASSES][LOCK_CLASSES];

void lockdep_init(void) { lockdebug = cmdline_bool("lockdebug", true); }

static uint32_t class_of(const struct spinlock *l) {
  return l->cls < LOCK_CLASSES ? l->cls : LOCK_NONE;
}

static struct held_locks *held(void) { return &this_cpu()->locks; }

uint32_t lockdep_depth(void) { return held()->depth; }

static __attribute__((noreturn)) void too_deep(uint32_t cls, vaddr_t caller) {
  krecord("LOCK error=depth lock=%s cpu=%u caller=0x%x\n", lock_class_name[cls],
          this_cpu()->index, caller);
  PANIC("more than %u locks held on one CPU", LOCKDEP_DEPTH);
}

void lockdep_acquire(const struct spinlock *l, vaddr_t caller) {
  struct held_locks *h = held();
  uint32_t b = class_of(l);
  for (uint32_t i = 0; i < h->depth; i++) {
    uint32_t a = h->at[i].cls;
    if (h->at[i].lock == l) {
      krecord("LOCK error=recursive lock=%s cpu=%u caller=0x%x earlier_caller=0x%x\n",
              lock_class_name[b], this_cpu()->index, caller, h->at[i].caller);
      PANIC("a %s lock taken twice on one CPU", lock_class_name[b]);
    }
    if (a != b && (taken_under[b] & (1u << a))) {
      krecord("LOCK error=inversion first=%s second=%s cpu=%u caller=0x%x "
              "earlier_caller=0x%x\n", lock_class_name[a], lock_class_name[b],
              this_cpu()->index, caller, first_site[b][a]);
      PANIC("lock order inversion: %s then %s, after %s then %s", lock_class_name[a],
            lock_class_name[b], lock_class_name[b], lock_class_name[a]);
    }
  }
  if (h->depth == LOCKDEP_DEPTH) too_deep(b, caller);
  /* The order is noted before the wait, not once the lock is ours: two CPUs
   * taking the two orders at once then deadlock, and the later one to get
   * here must already see the other's order to name it. */
  for (uint32_t i = 0; i < h->depth; i++) {
    uint32_t a = h->at[i].cls;
    if (a == b || (taken_under[a] & (1u << b))) continue;
    first_site[a][b] = caller;
    __atomic_fetch_or(&taken_under[a], 1u << b, __ATOMIC_SEQ_CST);
  }
}

void lockdep_acquired(const struct spinlock *l, vaddr_t caller) {
  struct held_locks *h = held();
  if (h->depth == LOCKDEP_DEPTH) too_deep(class_of(l), caller); /* a trylock's ninth */
  h->at[h->depth++] = (struct held_lock){.lock = l, .caller = caller, .cls = class_of(l)};
}

void lockdep_release(const struct spinlock *l, vaddr_t caller) {
  struct held_locks *h = held();
  for (uint32_t i = h->depth; i-- > 0;) {
    if (h->at[i].lock != l) continue;
    for (uint32_t j = i; j + 1 < h->depth; j++) h->at[j] = h->at[j + 1];
    h->depth--;
    return;
  }
  uint32_t cls = class_of(l);
  if (l->owner != l->next)
    krecord("LOCK error=not-held lock=%s cpu=%u caller=0x%x holder_cpu=%u\n",
            lock_class_name[cls], this_cpu()->index, caller, l->cpu);
  else
    krecord("LOCK error=not-held lock=%s cpu=%u caller=0x%x holder_cpu=none\n",
            lock_class_name[cls], this_cpu()->index, caller);
  PANIC("a %s lock released by a CPU that does not hold it", lock_class_name[cls]);
}

void lockdep_held_at(const char *window) {
  struct held_lock *top = &held()->at[held()->depth - 1];
  krecord("LOCK error=held-at-sti where=%s lock=%s cpu=%u caller=0x%x\n", window,
          lock_class_name[top->cls], this_cpu()->index, top->caller);
  PANIC("a %s lock held into an interrupt window (%s)", lock_class_name[top->cls], window);
}
