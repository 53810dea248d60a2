/* Spinlocks: ticket locks for the kernel's shared data once several CPUs run it.
 *
 * A ticket lock hands the lock out in the order it was asked for: acquire
 * takes a ticket with one `lock xaddw` on `next` (xadd exists from the 486 on)
 * and waits until `owner` reaches it; release is a plain store of owner + 1
 * (x86 keeps stores in order, so everything written under the lock is
 * visible before it).  Fair, so no CPU starves, and 8 bytes a lock.
 *
 * Every wait executes `pause` (cpu_relax).  Under -icount all vCPUs share one
 * TCG thread round-robin, and a CPU that spins without pausing keeps it to the
 * end of its slice, tens of millions of instructions, while the holder cannot
 * run to release.  Release pauses too when someone waits, to hand the thread
 * over at once.  On hardware `pause` is only a hint.
 *
 * Interrupts: the kernel runs with IF=0 outside ring 3 and its `sti; hlt`
 * windows, so spin_lock leaves IF alone.  Code that can run with IF=1 uses
 * the _irqsave pair.  No lock may be held across an `sti` window: an
 * interrupt handler that takes it would spin on its own CPU forever.
 *
 * Each lock has a class (enum lock_class), the unit of the lock-order
 * checker (kernel/lockdep.h, on with lockdebug=on, the default): it notes,
 * per CPU, which locks are held and, globally, which class was taken while
 * which other was held; taking B under A after A under B was seen is an
 * inversion, recorded and a panic (the records are listed there).  The
 * ranks below are the intended order, outer to inner (the checker judges by
 * what it sees, not by them).
 *
 * The holder's CPU and lock site are kept in the lock, so a CPU that spins
 * too long (spin_limit pauses, SPIN_LIMIT unless the command line's
 * spin_limit=<n> says otherwise: counted, not timed, so the same under
 * -icount) can name who holds it:
 *   LOCK error=spin lock=<class> holder_cpu=<c> holder_caller=0x<eip>
 *        waiter_cpu=<w> waiter_caller=0x<eip>
 * and panic.  With lockdebug=off they are not cleared at unlock (two stores
 * saved): they mean something only while the lock is taken.
 *
 * The wait serves this CPU's TLB shootdown mailboxes (tlb_poll,
 * kernel/tlb.h): a CPU spinning with interrupts off takes no IPI, and the
 * holder may be waiting for its flush. */
#pragma once

#include "types.h"

/* lockdebug=on|off (kernel/lockdep.h): the order checker is on. */
extern bool lockdebug;

/* Outer to inner.  A class's name is in lock_class_name (kernel/lockdep.c). */
enum lock_class {
  LOCK_NONE = 0,
  LOCK_SCHED,      /* 1: run queue, process/thread states, proc_history */
  LOCK_MM,         /* 2: one address space: regions, brk, its page tables */
  LOCK_SHM,        /* 3: shared-memory segments */
  LOCK_FILE,       /* 4: open files */
  LOCK_PAGECACHE,  /* 5: the caches, one at a time (pagecache -> bcache only) */
  LOCK_SWAP,
  LOCK_ZSWAP,
  LOCK_BCACHE,
  LOCK_BLK,        /* 6: devices' register pairs and requests */
  LOCK_RTC,
  LOCK_PCI,
  LOCK_PIC,
  LOCK_HEAP_CLASS, /* 7: slabs, boundary tags, quick fit */
  LOCK_HEAP_LARGE,
  LOCK_VMM_KERNEL, /* 8: kernel-half page-table edits */
  LOCK_POOL,       /* 9: pool reserves */
  LOCK_PCP,        /* 10: one CPU's frame cache (mm/pcp.c) */
  LOCK_PMM,        /* 11: bitmap, summaries, buddy maps, zones, pmm_stats */
  LOCK_RECORD,     /* 12: a record is one whole line on COM2 (a leaf) */
  LOCK_TEST_A,     /* the test triggers' own (kernel/lock_tests.c) */
  LOCK_TEST_B,
  LOCK_TEST_C,
  LOCK_CLASSES
};
_Static_assert(LOCK_CLASSES <= 32, "the order matrix is 32 x 32 bits");

struct spinlock {
  volatile uint16_t next;  /* the next ticket handed out */
  volatile uint16_t owner; /* the ticket being served */
  uint8_t cls;             /* enum lock_class */
  volatile uint8_t cpu;    /* the holder's CPU index (stale once it is free) */
  uint16_t pad;
  volatile vaddr_t caller; /* where the holder took it (stale once it is free) */
};
#define SPIN_NO_CPU 0xFF
#define SPINLOCK_INIT(class) { .next = 0, .owner = 0, .cls = (class), .cpu = SPIN_NO_CPU, .caller = 0 }
#define SPIN_LIMIT (1u << 24) /* pauses before a waiter reports the holder and panics */
/* The limit in force: spin_limit=<n> (n > 0) sets it.  A test that waits for
 * the report on purpose asks for less; a slow emulator may need more. */
extern uint32_t spin_limit;
void spin_limit_init(void);

void spin_init(struct spinlock *l, enum lock_class cls);
static inline __attribute__((always_inline)) void spin_lock(struct spinlock *l);
static inline __attribute__((always_inline)) void spin_unlock(struct spinlock *l);
/* Takes the lock only if it is free at once: whether it did. */
bool spin_trylock(struct spinlock *l);
/* For code that may run with IF=1: turns interrupts off first and returns
 * the flags to give back to spin_unlock_irqrestore. */
uint32_t spin_lock_irqsave(struct spinlock *l);
void spin_unlock_irqrestore(struct spinlock *l, uint32_t flags);
/* Whether this CPU holds l (for assertions). */
bool spin_held(const struct spinlock *l);

/* The fast path is inline, so an uncontended lock+unlock costs 18
 * instructions: one test of `lockdebug`, the ticket, the
 * holder's CPU (%gs:4, struct cpu's index) and site.  The rest is out of
 * line: the wait (spin_lock_wait, which also counts towards spin_limit),
 * and, with lockdebug=on, the whole lock and unlock through the order
 * checker (spin_lock_debug, spin_unlock_debug: kernel/lockdep.h).  The
 * holder's `caller` is the lock site itself (the address after a `movl $1f`
 * in the inlined code, or the out-of-line function's return address), so
 * it names the function that took the lock.  Hence always_inline: an image
 * built another way (the coverage image's -finstrument-functions made GCC
 * keep spin_lock out of line) must still name the lock's taker, not
 * spin_lock. */
void spin_lock_wait(struct spinlock *l, uint16_t ticket);
void spin_lock_debug(struct spinlock *l);
void spin_unlock_debug(struct spinlock *l);

static inline __attribute__((always_inline)) uint16_t spin_take_ticket(struct spinlock *l) {
  uint16_t ticket = 1;
  __asm__ volatile("lock xaddw %0, %1" : "+r"(ticket), "+m"(l->next) : : "memory");
  return ticket;
}

/* this_cpu()->index in one load: struct cpu's second word (kernel/smp.h). */
static inline __attribute__((always_inline)) uint8_t spin_cpu_index(void) {
  uint8_t index;
  __asm__ volatile("movb %%gs:%c1, %0" : "=q"(index) : "i"(sizeof(void *)));
  return index;
}

static inline __attribute__((always_inline)) void spin_lock(struct spinlock *l) {
  if (lockdebug) {
    spin_lock_debug(l);
    return;
  }
  uint16_t ticket = spin_take_ticket(l);
  if (l->owner != ticket) spin_lock_wait(l, ticket);
  l->cpu = spin_cpu_index();
  __asm__ volatile("movl $1f, %0\n1:" : "=m"(l->caller)); /* this site */
}

/* Release: owner + 1 as a plain store after the critical section's stores
 * (x86 keeps stores in order), then a pause if someone waits, to hand the
 * TCG thread over at once under -icount. */
static inline __attribute__((always_inline)) void spin_release(struct spinlock *l) {
  uint16_t next_owner = (uint16_t)(l->owner + 1);
  __asm__ volatile("" ::: "memory");
  l->owner = next_owner;
  if (l->next != next_owner) __asm__ volatile("pause" ::: "memory");
}

static inline __attribute__((always_inline)) void spin_unlock(struct spinlock *l) {
  if (lockdebug) {
    spin_unlock_debug(l);
    return;
  }
  spin_release(l);
}
