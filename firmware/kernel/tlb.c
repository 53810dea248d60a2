/* TLB shootdown: see include/kernel/tlb.h. */
#include "kernel/tlb.h"
#include "arch/i386/cpu.h"
#include "kernel/cmdline.h"
#include "kernel/ipi.h"
#include "kernel/kprintf.h"
#include "kernel/panic.h"
#include "kernel/smp.h"
#include "mm/pcp.h"

bool tlb_shootdown_enabled = true;

void tlb_init(void) { tlb_shootdown_enabled = cmdline_bool("tlb_shootdown", true); }

/* This CPU's TLB, the range: an invlpg a page, or one whole flush that also
 * drops global entries (toggling CR4.PGE flushes them; a CR3 write keeps
 * them). */
static void flush_here(vaddr_t start, uint32_t pages) {
  if (pages > TLB_FULL_FLUSH_PAGES) {
    uint32_t cr4 = read_cr4();
    if (cr4 & CR4_PGE) {
      write_cr4(cr4 & ~CR4_PGE);
      write_cr4(cr4);
    } else {
      write_cr3(read_cr3());
    }
    return;
  }
  for (uint32_t i = 0; i < pages; i++) invlpg(start + i * PAGE_SIZE);
}

_Static_assert(__builtin_offsetof(struct cpu, tlb_pending) == TLB_PENDING_AT,
               "tlb_poll reads struct cpu's tlb_pending at %gs:TLB_PENDING_AT");

/* Out of line, when some bit of tlb_pending is set.  A sender sets its bit
 * after its request and sends no other to this CPU until this one is done,
 * so taking the bits first and serving after loses nothing. */
void tlb_serve(void) {
  struct cpu *self = this_cpu();
  uint32_t pending = __atomic_exchange_n(&self->tlb_pending, 0, __ATOMIC_SEQ_CST);
  for (uint32_t sender = 0; sender < CPU_MAX; sender++) {
    if (!(pending & (1u << sender))) continue;
    struct tlb_mailbox *m = &self->tlb[sender];
    uint32_t sent = m->sent;
    if (sent == m->done) continue;
    flush_here(m->start, m->pages); /* the range written before `sent` (x86 keeps stores in order) */
    self->tlb_stats.served++;
    m->done = sent;
  }
  if (pending & TLB_PENDING_PCP_DRAIN) pcp_serve_drain();
}

static __attribute__((noreturn, noinline)) void no_ack(uint32_t cpu, vaddr_t start,
                                                        uint32_t pages) {
  krecord("TLB error=no-ack cpu=%u va=%p pages=%u sender=%u\n", cpu, (void *)start, pages,
          this_cpu()->index);
  PANIC("cpu %u did not flush its TLB", cpu);
}

void tlb_shootdown_kernel(vaddr_t start, uint32_t pages) {
  flush_here(start, pages);
  struct cpu *self = this_cpu();
  uint32_t others = cpu_online_mask & ~(1u << self->index);
  if (!tlb_shootdown_enabled || !others) {
    self->tlb_stats.local_only++;
    return;
  }
  uint32_t sent[CPU_MAX];
  for (uint32_t cpu = 0; cpu < CPU_MAX; cpu++) {
    if (!(others & (1u << cpu))) continue;
    struct tlb_mailbox *m = &cpus[cpu].tlb[self->index];
    m->start = start;
    m->pages = pages;
    sent[cpu] = m->sent + 1;
    m->sent = sent[cpu];
    __atomic_fetch_or(&cpus[cpu].tlb_pending, 1u << self->index, __ATOMIC_SEQ_CST);
    ipi_send(cpu, IPI_TLB);
    self->tlb_stats.ipis++;
  }
  for (uint32_t cpu = 0; cpu < CPU_MAX; cpu++) {
    if (!(others & (1u << cpu))) continue;
    struct tlb_mailbox *m = &cpus[cpu].tlb[self->index];
    for (uint32_t spin = 0; m->done != sent[cpu]; spin++) {
      if (spin == TLB_ACK_SPINS) no_ack(cpu, start, pages);
      tlb_poll(); /* the target may be waiting for this CPU's own flush */
      cpu_relax();
    }
  }
  self->tlb_stats.shootdowns++;
  self->tlb_stats.pages += pages;
  if (pages > TLB_FULL_FLUSH_PAGES) self->tlb_stats.full++;
}
