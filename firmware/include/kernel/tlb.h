/* TLB shootdown: keeping every CPU's TLB coherent with page tables another
 * CPU changes (issue 20, DESIGN.md 4.1).
 *
 * A CPU caches translations in its own TLB, and invlpg or a CR3 write
 * flushes only its own.  So when a mapping that other CPUs may cache is
 * removed or loses rights, the CPU that changed it tells each of them by IPI
 * and waits until each has flushed: only then may the frame be reused (or
 * the page written through its new rights), or another CPU would still
 * reach it through its stale entry.
 *
 * Who may cache what: a kernel-half mapping is in every directory and
 * global (CR4.PGE), so every online CPU may hold it; a user mapping only
 * CPUs running that address space, and until the scheduler runs on every
 * CPU only CPU 0 runs user code, so user changes stay local (invlpg).
 * Adding a mapping where none was needs no shootdown: a CPU never caches a
 * not-present entry.
 *
 * Requests go through mailboxes, one per (target, sender) pair in the
 * target's struct cpu, so senders never contend and need no lock: the
 * sender writes the range, then bumps `sent`, sets its bit in the target's
 * tlb_pending, sends IPI_TLB and waits for `done` to reach `sent`.  A target serves its mailboxes in tlb_poll: from
 * the IPI's handler, and from every loop where a CPU waits with interrupts
 * off (a spinlock's wait, an IPI ack's wait, a sender's own wait), since an
 * IPI does not reach such a CPU and its sender would wait for ever; two
 * CPUs shooting down at each other each serve the other while they wait.
 *
 * A range of more than TLB_FULL_FLUSH_PAGES pages is one whole flush
 * (global entries too: CR4.PGE off and on) instead of an invlpg per page.
 *
 * `tlb_shootdown=off` on the command line is a test switch: the changing
 * CPU flushes only its own TLB, so a test can show the stale translation it
 * would otherwise leave on the others (the stale-TLB tests' proof that they
 * can see the bug).  A target that does not acknowledge within
 * TLB_ACK_SPINS pauses (one stopped with interrupts off and not polling)
 * is recorded and the kernel panics, since the frame cannot be reused:
 *   TLB error=no-ack cpu=<target> va=0x<start> pages=<n> sender=<cpu>
 * Statistics: each CPU's tlb_stats, as sender and as target. */
#pragma once

#include "types.h"

#define TLB_STR_(x) #x
#define TLB_STR(x) TLB_STR_(x)

#define TLB_FULL_FLUSH_PAGES 32
#define TLB_ACK_SPINS (1u << 24)

/* A request from one sender to one target (struct cpu's tlb[sender]). */
struct tlb_mailbox {
  volatile uint32_t sent; /* requests written by the sender */
  volatile uint32_t done; /* requests the target has flushed */
  vaddr_t start;          /* the range of the latest request */
  uint32_t pages;
};

/* Per CPU (struct cpu's tlb_stats); only its own CPU writes them. */
struct tlb_stats {
  uint32_t shootdowns; /* ranges it shot down with another CPU online */
  uint32_t ipis;       /* IPI_TLB it sent (one per target per shootdown) */
  uint32_t pages;      /* pages in those ranges */
  uint32_t full;       /* of them, ranges flushed whole (> TLB_FULL_FLUSH_PAGES) */
  uint32_t local_only; /* kernel ranges it flushed only here (the switch off, or one CPU) */
  uint32_t served;     /* other CPUs' requests it flushed */
};
extern bool tlb_shootdown_enabled;

/* Reads the switch. */
void tlb_init(void);
/* Flushes [start, start + pages pages) here, then on every other online CPU
 * (that may cache kernel mappings: all of them), and returns once each has. */
void tlb_shootdown_kernel(vaddr_t start, uint32_t pages);
/* tlb_pending carries one request that is not a TLB flush: this bit asks the
 * CPU for its frame cache (mm/pcp.h), so that every wait which answers
 * shootdowns answers a drain too.  Senders' bits stay below CPU_MAX. */
#define TLB_PENDING_PCP_DRAIN (1u << 31)

/* Serves this CPU's mailboxes: what any wait with interrupts off calls.
 * Inline, the check is one load: struct cpu's tlb_pending, at %gs:
 * TLB_PENDING_AT (kernel/tlb.c checks the offset). */
#define TLB_PENDING_AT 40
void tlb_serve(void);
static inline void tlb_poll(void) {
  uint32_t pending;
  __asm__ volatile("movl %%gs:" TLB_STR(TLB_PENDING_AT) ", %0" : "=r"(pending));
  if (__builtin_expect(pending != 0, 0)) tlb_serve();
}
