/* Ticket spinlocks: see include/kernel/spinlock.h.  Here the out-of-line
 * parts: the wait with its spin-too-long report, the lock and unlock through
 * the order checker (kernel/lockdep.c), trylock and the irqsave pair. */
#include "kernel/spinlock.h"
#include "arch/i386/cpu.h"
#include "kernel/cmdline.h"
#include "kernel/kprintf.h"
#include "kernel/lockdep.h"
#include "kernel/panic.h"
#include "kernel/smp.h"
#include "kernel/tlb.h"

_Static_assert(__builtin_offsetof(struct cpu, index) == sizeof(void *),
               "spin_cpu_index reads struct cpu's index at %gs:4");

#define RETURN_ADDRESS() ((vaddr_t)__builtin_return_address(0))

void spin_init(struct spinlock *l, enum lock_class cls) {
  *l = (struct spinlock)SPINLOCK_INIT(cls);
}

uint32_t spin_limit = SPIN_LIMIT;

void spin_limit_init(void) {
  uint32_t limit;
  if (!cmdline_number("spin_limit", &limit)) return;
  if (limit)
    spin_limit = limit;
  else
    cmdline_report_bad("spin_limit", cmdline_get("spin_limit"), "pauses>0");
}

/* spin_limit pauses and the lock is still not ours: whoever holds it is not
 * letting go (a deadlock, or a holder that stopped).  Name both and stop. */
static __attribute__((noreturn, noinline)) void spin_too_long(struct spinlock *l,
                                                              vaddr_t waiter_caller) {
  uint32_t cls = l->cls < LOCK_CLASSES ? l->cls : LOCK_NONE;
  krecord("LOCK error=spin lock=%s holder_cpu=%u holder_caller=0x%x waiter_cpu=%u "
          "waiter_caller=0x%x\n", lock_class_name[cls], l->cpu, l->caller,
          this_cpu()->index, waiter_caller);
  PANIC("spin too long on a %s lock", lock_class_name[cls]);
}

/* Waits for `ticket` to be served, counting pauses (not time: the same under
 * -icount, and immune to the jump an INIT makes in virtual time). */
static inline void wait_for(struct spinlock *l, uint16_t ticket, vaddr_t caller) {
  for (uint32_t spins = 0; l->owner != ticket; spins++) {
    if (spins == spin_limit) spin_too_long(l, caller);
    tlb_poll(); /* the holder may be waiting for this CPU's flush (kernel/tlb.h) */
    cpu_relax();
  }
}

void spin_lock_wait(struct spinlock *l, uint16_t ticket) {
  wait_for(l, ticket, RETURN_ADDRESS());
}

/* The whole lock, checked: the order before waiting (an inversion is named
 * before it can deadlock), the held stack once it is ours. */
static inline void lock_checked(struct spinlock *l, vaddr_t caller) {
  lockdep_acquire(l, caller);
  uint16_t ticket = spin_take_ticket(l);
  wait_for(l, ticket, caller);
  l->cpu = spin_cpu_index();
  l->caller = caller;
  lockdep_acquired(l, caller);
}

void spin_lock_debug(struct spinlock *l) { lock_checked(l, RETURN_ADDRESS()); }

void spin_unlock_debug(struct spinlock *l) {
  lockdep_release(l, RETURN_ADDRESS());
  l->cpu = SPIN_NO_CPU;
  l->caller = 0;
  spin_release(l);
}

bool spin_trylock(struct spinlock *l) {
  uint16_t owner = l->owner;
  uint32_t free_now = (uint32_t)owner << 16 | owner;       /* next == owner */
  uint32_t taken = (uint32_t)owner << 16 | (uint16_t)(owner + 1);
  uint32_t seen = free_now;
  /* next and owner are the struct's first 32 bits: one cmpxchg takes a
   * ticket only if it would be served at once. */
  __asm__ volatile("lock cmpxchgl %2, %1" : "+a"(seen), "+m"(*(volatile uint32_t *)l)
                   : "r"(taken) : "memory");
  if (seen != free_now) return false;
  l->cpu = spin_cpu_index();
  l->caller = RETURN_ADDRESS();
  /* Held, so it orders what is taken under it; a trylock itself cannot
   * deadlock, so its own order is not checked. */
  if (lockdebug) lockdep_acquired(l, RETURN_ADDRESS());
  return true;
}

uint32_t spin_lock_irqsave(struct spinlock *l) {
  uint32_t flags;
  __asm__ volatile("pushfl; popl %0; cli" : "=r"(flags) : : "memory");
  if (lockdebug) {
    lock_checked(l, RETURN_ADDRESS());
  } else {
    wait_for(l, spin_take_ticket(l), RETURN_ADDRESS());
    l->cpu = spin_cpu_index();
    l->caller = RETURN_ADDRESS();
  }
  return flags;
}

void spin_unlock_irqrestore(struct spinlock *l, uint32_t flags) {
  if (lockdebug) {
    lockdep_release(l, RETURN_ADDRESS());
    l->cpu = SPIN_NO_CPU;
    l->caller = 0;
  }
  spin_release(l);
  if (flags & (1u << 9)) sti();
}

bool spin_held(const struct spinlock *l) {
  return l->owner != l->next && l->cpu == this_cpu()->index;
}
