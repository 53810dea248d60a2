/* The lock-order checker (kernel/lockdep.c), on with lockdebug=on (the
 * default; lockdebug=off for benches that count the bare lock).
 *
 * Each CPU keeps the locks it holds, innermost last, in its struct cpu
 * (`locks`, at most LOCKDEP_DEPTH).  Globally, for every pair of lock classes,
 * whether the second was ever taken while the first was held ("A before
 * B"), with the site of the first sighting.  Taking B while holding A after
 * "B before A" was seen is an inversion: two CPUs doing the two orders at
 * once deadlock, so it is reported the first time both orders happen, even
 * one after the other:
 *   LOCK error=inversion first=<A, held> second=<B, being taken> cpu=<c>
 *        caller=0x<where B is taken> earlier_caller=0x<where A was taken under B>
 * then a panic.  Also a panic, each with its record:
 *   LOCK error=recursive lock=<class> cpu=<c> caller=0x<eip> earlier_caller=0x<eip>
 *     (this CPU takes a lock it already holds: it would spin on itself)
 *   LOCK error=not-held lock=<class> cpu=<c> caller=0x<eip> holder_cpu=<h>|none
 *     (spin_unlock of a lock this CPU does not hold)
 *   LOCK error=depth lock=<class> cpu=<c> caller=0x<eip>   (a ninth lock)
 *   LOCK error=held-at-sti where=<window> lock=<class> cpu=<c> caller=0x<eip>
 *     (a lock held into an interrupt window: an interrupt handler taking it
 *     would spin on its own CPU forever; lockdep_assert_none_held)
 * Two locks of one class nested (two CPUs' frame caches) set no order: the
 * classes, not the instances, are what it compares. */
#pragma once

#include "types.h"

struct spinlock;

#define LOCKDEP_DEPTH 8

struct held_lock {
  const struct spinlock *lock;
  vaddr_t caller; /* where it was taken */
  uint32_t cls;   /* enum lock_class */
};

struct held_locks {
  uint32_t depth;
  struct held_lock at[LOCKDEP_DEPTH];
};

extern bool lockdebug;
/* The name of each enum lock_class (kernel/spinlock.h), for the records. */
extern const char *const lock_class_name[];

/* Reads lockdebug= from the command line: right after cmdline_init, before
 * any lock is taken. */
void lockdep_init(void);
/* Before l's ticket is taken at `caller`: the order, recursion and depth
 * checks (each a record and a panic), then notes "each held class before
 * l's class". */
void lockdep_acquire(const struct spinlock *l, vaddr_t caller);
/* Once l is held: pushes it (a trylock comes here unchecked: it cannot
 * deadlock, and what is taken under it is checked). */
void lockdep_acquired(const struct spinlock *l, vaddr_t caller);
/* Before l is released at `caller`: pops it, or not-held and a panic. */
void lockdep_release(const struct spinlock *l, vaddr_t caller);
/* How many locks this CPU holds (0 with lockdebug=off: nobody counts). */
uint32_t lockdep_depth(void);
/* For lockdep_assert_none_held: the held-at-sti record and the panic. */
__attribute__((noreturn)) void lockdep_held_at(const char *window);

/* Before an `sti` window (`where` names it in the record): no lock held. */
#define lockdep_assert_none_held(where)                 \
  do {                                                  \
    if (lockdebug && lockdep_depth()) lockdep_held_at(where); \
  } while (0)
