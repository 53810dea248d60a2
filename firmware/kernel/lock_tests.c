/* Test entries for the spinlocks and the order checker, called by the
 * harness on CPU 0 (tests/smp/test_spinlock.py, tests/smp/test_lockdep.py).
 * Each starts its work on the other CPUs through IPI_CALL and waits for
 * their acks; which CPU does what, and in which order, comes from guest
 * flags, so a run is the same whoever the host schedules first. */
#include "arch/i386/cpu.h"
#include "bench/bench.h"
#include "kernel/ipi.h"
#include "kernel/kprintf.h"
#include "kernel/lockdep.h"
#include "kernel/proc.h" /* sched_preempt_point */
#include "kernel/smp.h"
#include "kernel/spinlock.h"

static struct spinlock test_a = SPINLOCK_INIT(LOCK_TEST_A);
static struct spinlock test_b = SPINLOCK_INIT(LOCK_TEST_B);
static struct spinlock test_c = SPINLOCK_INIT(LOCK_TEST_C);
/* The steps the two CPUs of a trigger wait for: bits set with `lock or`. */
static volatile uint32_t steps;

/* The bits set in mask (no libgcc here for __builtin_popcount). */
static uint32_t bits_in(uint32_t mask) {
  uint32_t n = 0;
  for (; mask; mask &= mask - 1) n++;
  return n;
}

static void set_step(uint32_t bit) { __atomic_fetch_or(&steps, bit, __ATOMIC_SEQ_CST); }

static void wait_step(uint32_t bit) {
  while (!(steps & bit)) cpu_relax();
}

/* lock_hammer: every CPU adds 1 to the counter `rounds` times, under
 * hammer_lock or (use_lock 0) not, all starting together (a barrier), so
 * the increments overlap for real under MTTCG.  Unlocked, a load-add-store
 * on one CPU overwrites another's increment: the count comes out short.
 *
 * Locked, whether the CPUs overlap by themselves is up to the host's
 * scheduler: with 4 vCPUs on 2 busy host cores each vCPU's thread may run
 * all its rounds alone in one time slice (a CI run saw 30 runs in a row
 * without one wait).  So the first round is made to overlap: its first
 * holder keeps the lock until every other CPU holds a ticket behind it.
 * Then all meet at a second barrier before the other rounds: a ticket lock
 * under contention stays a convoy (each CPU queues again at once behind the
 * rest), and a convoy on shared host cores waits a time slice for each
 * waiter whose thread is not running. */
static struct spinlock hammer_lock = SPINLOCK_INIT(LOCK_TEST_A);
volatile uint32_t lock_hammer_counter;
/* Acquisitions that found the lock taken by another CPU: proof the CPUs ran
 * at once, without which an exact count would prove nothing.  At least
 * online - 1, the waiters of the first round. */
volatile uint32_t lock_hammer_waits;
/* Times a CPU entered the critical section with another CPU inside: a lock
 * that does not exclude, seen even when no increment happens to be lost. */
volatile uint32_t lock_hammer_breaches;
static uint32_t hammer_rounds;
static bool hammer_locked;
static volatile uint32_t hammer_arrived;
static volatile uint32_t hammer_opened_by; /* CPUs past the first round */
static bool hammer_opened;                   /* under the lock */
static volatile uint32_t hammer_inside;     /* CPUs in the critical section */

static void barrier(volatile uint32_t *arrived, uint32_t online) {
  __atomic_fetch_add(arrived, 1, __ATOMIC_SEQ_CST);
  while (*arrived != online) cpu_relax();
}

/* Under hammer_lock. */
static void hammer_critical(uint32_t online) {
  if (__atomic_add_fetch(&hammer_inside, 1, __ATOMIC_SEQ_CST) != 1)
    __atomic_fetch_add(&lock_hammer_breaches, 1, __ATOMIC_SEQ_CST);
  if (!hammer_opened) { /* the first holder: wait until the rest queue */
    while ((uint16_t)(hammer_lock.next - hammer_lock.owner) != online) cpu_relax();
    __atomic_fetch_add(&lock_hammer_waits, online - 1, __ATOMIC_SEQ_CST);
    hammer_opened = true;
  }
  lock_hammer_counter++;
  __atomic_fetch_sub(&hammer_inside, 1, __ATOMIC_SEQ_CST);
}

static void hammer(void) {
  uint32_t online = bits_in(cpu_online_mask);
  barrier(&hammer_arrived, online);
  uint32_t waits = 0;
  for (uint32_t i = 0; i < hammer_rounds; i++) {
    if (hammer_locked) {
      if (i > 0 && hammer_lock.next != hammer_lock.owner) waits++;
      spin_lock(&hammer_lock);
      hammer_critical(online);
      spin_unlock(&hammer_lock);
      if (i == 0) barrier(&hammer_opened_by, online);
    } else {
      lock_hammer_counter++;
    }
  }
  __atomic_fetch_add(&lock_hammer_waits, waits, __ATOMIC_SEQ_CST);
}

/* Returns the counter (the harness also reads it from RAM). */
HARNESS_VISIBLE uint32_t lock_hammer(uint32_t rounds, uint32_t use_lock) {
  lock_hammer_counter = 0;
  lock_hammer_waits = 0;
  lock_hammer_breaches = 0;
  hammer_arrived = 0;
  hammer_opened_by = 0;
  hammer_opened = false;
  hammer_rounds = rounds;
  hammer_locked = use_lock != 0;
  ipi_test_call_everywhere(hammer);
  return lock_hammer_counter;
}

/* Inversion: CPU 0 takes A then B and lets both go; only then CPU 1 takes
 * B then A.  Nothing deadlocks (the orders never overlap), so only the
 * checker can name it: on CPU 1, taking A while holding B. */
static void __attribute__((noinline)) inversion_cpu0(void) {
  spin_lock(&test_a);
  spin_lock(&test_b);
  spin_unlock(&test_b);
  spin_unlock(&test_a);
  set_step(1);
}

static void __attribute__((noinline)) inversion_cpu1(void) {
  wait_step(1);
  spin_lock(&test_b);
  spin_lock(&test_a);
  spin_unlock(&test_a);
  spin_unlock(&test_b);
}

/* Held: CPU 1 takes A and stops for good (interrupts off: only the panic's
 * NMI reaches it); CPU 0 then waits for A until spin_limit. */
static void __attribute__((noinline)) held_cpu1(void) {
  spin_lock(&test_a);
  set_step(1);
  for (;;) halt();
}

static void __attribute__((noinline)) held_cpu0(void) {
  wait_step(1);
  spin_lock(&test_a);
  spin_unlock(&test_a); /* not reached */
}

/* Deadlock: CPU 0 holds A, CPU 1 holds B, then each takes the other's. */
static void __attribute__((noinline)) deadlock_cpu0(void) {
  spin_lock(&test_a);
  set_step(1);
  wait_step(2);
  spin_lock(&test_b);
}

static void __attribute__((noinline)) deadlock_cpu1(void) {
  spin_lock(&test_b);
  set_step(2);
  wait_step(1);
  spin_lock(&test_a);
}

static void (*parts[2])(void);

static void run_part(void) {
  uint32_t index = this_cpu()->index;
  if (index < 2) parts[index]();
}

/* Runs cpu0 on CPU 0 and cpu1 on CPU 1 at once; false without a CPU 1. */
static bool run_pair(void (*cpu0)(void), void (*cpu1)(void)) {
  if (!(cpu_online_mask & 2u)) return false;
  steps = 0;
  parts[0] = cpu0;
  parts[1] = cpu1;
  ipi_test_call_everywhere(run_part);
  return true;
}

HARNESS_VISIBLE bool lockdebug_test_inversion(void) {
  return run_pair(inversion_cpu0, inversion_cpu1);
}

HARNESS_VISIBLE bool lockdebug_test_held(void) { return run_pair(held_cpu0, held_cpu1); }

HARNESS_VISIBLE bool lockdebug_test_deadlock(void) {
  return run_pair(deadlock_cpu0, deadlock_cpu1);
}

/* A lock held into a preemption point (an interrupt window). */
HARNESS_VISIBLE void lockdebug_test_preempt_holding(void) {
  spin_lock(&test_a);
  sched_preempt_point();
  spin_unlock(&test_a);
}

/* A lock taken twice by one CPU (it would wait for itself forever). */
HARNESS_VISIBLE void lockdebug_test_recursive(void) {
  spin_lock(&test_a);
  spin_lock(&test_a);
}

/* One lock more than the held stack takes (one class: no order among them). */
static struct spinlock nested[LOCKDEP_DEPTH + 1];

HARNESS_VISIBLE void lockdebug_test_depth(void) {
  for (uint32_t i = 0; i <= LOCKDEP_DEPTH; i++) spin_init(&nested[i], LOCK_TEST_A);
  for (uint32_t i = 0; i <= LOCKDEP_DEPTH; i++) spin_lock(&nested[i]);
}

/* Releases out of order: takes test_a, test_b, test_c and lets test_a go
 * first, leaving test_b and test_c held (in that order on the held stack)
 * for lock_test_drop_bc. */
HARNESS_VISIBLE void lock_test_hold_abc_drop_a(void) {
  spin_lock(&test_a);
  spin_lock(&test_b);
  spin_lock(&test_c);
  spin_unlock(&test_a);
}

HARNESS_VISIBLE void lock_test_drop_bc(void) {
  spin_unlock(&test_b);
  spin_unlock(&test_c);
}

/* The ninth lock held, taken by trylock (which is not checked before). */
HARNESS_VISIBLE void lockdebug_test_trylock_depth(void) {
  for (uint32_t i = 0; i <= LOCKDEP_DEPTH; i++) spin_init(&nested[i], LOCK_TEST_A);
  for (uint32_t i = 0; i < LOCKDEP_DEPTH; i++) spin_lock(&nested[i]);
  spin_trylock(&nested[LOCKDEP_DEPTH]);
}

/* A trylock of a free lock takes it, of a taken one does not: bit 0 = took
 * it free, bit 1 = refused it taken, bit 2 = spin_held says so, bit 3 =
 * spin_held says test_b (free) is not.  test_b is then taken under it (the
 * checker notes the order: the harness reads it) and everything let go;
 * bit 4 = spin_held says test_a is no longer held. */
HARNESS_VISIBLE uint32_t lock_test_trylock(void) {
  uint32_t seen = 0;
  if (spin_trylock(&test_a)) seen |= 1;
  if (!spin_trylock(&test_a)) seen |= 2;
  if (spin_held(&test_a)) seen |= 4;
  if (!spin_held(&test_b)) seen |= 8;
  spin_lock(&test_b);
  spin_unlock(&test_b);
  spin_unlock(&test_a);
  if (!spin_held(&test_a)) seen |= 16;
  return seen;
}

/* spin_lock_irqsave turns interrupts off and spin_unlock_irqrestore gives
 * back what they were: IF (0x200) of the flags inside and after, from an
 * IF=1 start: bit 0 = IF on inside (wrong), bit 1 = IF back on after. */
HARNESS_VISIBLE uint32_t lock_test_irqsave(void) {
  uint32_t inside, after;
  sti();
  uint32_t flags = spin_lock_irqsave(&test_a);
  __asm__ volatile("pushfl; popl %0" : "=r"(inside));
  spin_unlock_irqrestore(&test_a, flags);
  __asm__ volatile("pushfl; popl %0; cli" : "=r"(after));
  return (inside & 0x200 ? 1u : 0u) | (after & 0x200 ? 2u : 0u);
}

/* Takes `inner` under `outer` and lets both go. */
static void nest(struct spinlock *outer, struct spinlock *inner) {
  spin_lock(outer);
  spin_lock(inner);
  spin_unlock(inner);
  spin_unlock(outer);
}

/* Orders that agree: test_b under test_a, test_a under test_c, test_b under
 * test_c (test_c, test_a, test_b, outer to inner).  No record: the checker
 * names the reverse of an order it saw, not any order. */
HARNESS_VISIBLE void lock_test_consistent_orders(void) {
  spin_lock(&test_a);
  spin_lock(&test_b); /* the first sighting of test_b under test_a */
  spin_unlock(&test_b);
  spin_unlock(&test_a);
  nest(&test_c, &test_a);
  nest(&test_c, &test_b);
}

/* test_b under test_a again, elsewhere: the first sighting's site stays. */
HARNESS_VISIBLE void lock_test_orders_again(void) { nest(&test_a, &test_b); }

/* A lock whose class is out of range (LOCK_CLASSES) is named "none", here
 * in the not-held record of its release. */
HARNESS_VISIBLE void lockdebug_test_bad_class(void) {
  static struct spinlock bad = SPINLOCK_INIT(LOCK_CLASSES);
  spin_unlock(&bad);
}

/* A lock released by a CPU that never took it. */
HARNESS_VISIBLE void lockdebug_test_unlock_free(void) { spin_unlock(&test_b); }

/* Bench: instructions for n uncontended spin_lock+spin_unlock pairs (under
 * -icount the TSC counts instructions), the empty loop's cost taken off. */
HARNESS_VISIBLE uint32_t lock_bench_pairs(uint32_t n) {
  uint32_t start = bench_clock();
  for (uint32_t i = 0; i < n; i++) __asm__ volatile("" ::: "memory");
  uint32_t empty = bench_clock() - start;
  start = bench_clock();
  for (uint32_t i = 0; i < n; i++) {
    spin_lock(&test_b);
    spin_unlock(&test_b);
  }
  return (bench_clock() - start) - empty;
}

/* record_race: every CPU writes `record_race_lines` records at once (all
 * leave a barrier together), `RACE cpu=<c> line=<i>`: without one record at
 * a time on the serial lines (lib/kprintf.c), two CPUs' bytes interleave and
 * the harness finds lines it cannot parse and records missing. */
static volatile uint32_t record_race_lines, record_race_arrived;

static void record_race(void) {
  __atomic_fetch_add(&record_race_arrived, 1, __ATOMIC_SEQ_CST);
  while (record_race_arrived != bits_in(cpu_online_mask)) cpu_relax();
  for (uint32_t i = 0; i < record_race_lines; i++)
    krecord("RACE cpu=%u line=%u\n", this_cpu()->index, i);
}

/* How many CPUs wrote their lines. */
HARNESS_VISIBLE uint32_t record_test_race(uint32_t lines) {
  record_race_lines = lines;
  record_race_arrived = 0;
  return ipi_test_call_everywhere(record_race);
}
