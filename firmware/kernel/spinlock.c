/* Ticket spinlocks: see include/kernel/spinlock.h.  This is the plain lock;
 * the order checker and the spin-too-long report come with kernel/lockdep.c. */
#include "kernel/spinlock.h"
#include "arch/i386/cpu.h"
#include "kernel/smp.h"

void spin_init(struct spinlock *l, enum lock_class cls) {
  *l = (struct spinlock)SPINLOCK_INIT(cls);
}

static inline uint16_t take_ticket(struct spinlock *l) {
  uint16_t ticket = 1;
  __asm__ volatile("lock xaddw %0, %1" : "+r"(ticket), "+m"(l->next) : : "memory");
  return ticket;
}

void spin_lock(struct spinlock *l) {
  uint16_t ticket = take_ticket(l);
  while (l->owner != ticket) cpu_relax();
  l->cpu = (uint8_t)this_cpu()->index;
  l->caller = (vaddr_t)__builtin_return_address(0);
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
  l->cpu = (uint8_t)this_cpu()->index;
  l->caller = (vaddr_t)__builtin_return_address(0);
  return true;
}

void spin_unlock(struct spinlock *l) {
  l->cpu = SPIN_NO_CPU;
  l->caller = 0;
  uint16_t next_owner = (uint16_t)(l->owner + 1);
  __asm__ volatile("" ::: "memory"); /* the critical section's stores first */
  l->owner = next_owner;
  if (l->next != next_owner) cpu_relax(); /* a waiter: let it run now */
}

uint32_t spin_lock_irqsave(struct spinlock *l) {
  uint32_t flags;
  __asm__ volatile("pushfl; popl %0; cli" : "=r"(flags) : : "memory");
  spin_lock(l);
  return flags;
}

void spin_unlock_irqrestore(struct spinlock *l, uint32_t flags) {
  spin_unlock(l);
  if (flags & (1u << 9)) sti();
}

bool spin_held(const struct spinlock *l) {
  return l->owner != l->next && l->cpu == this_cpu()->index;
}
