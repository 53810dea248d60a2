/* Test entries for the TLB shootdown, called by the harness on CPU 0
 * (tests/smp/test_tlb_shootdown.py), and the bench's loop.
 *
 * The stale-TLB test in the kernel half: kmap slots are reused, so CPU 0
 * maps frame A in a slot, another CPU reads through it (its TLB now holds
 * slot -> A), CPU 0 unmaps the slot and maps frame B in the same slot, and
 * the other CPU reads again.  With the shootdown it reads B; without it
 * (tlb_shootdown=off) its TLB still says A and it reads A, the stale
 * translation that would let it reach a frame already reused.  What each
 * read saw is kept in tlb_test_seen; the harness compares it with the
 * frames as it wrote them. */
#include "arch/i386/cpu.h"
#include "kernel/ipi.h"
#include "kernel/smp.h"
#include "kernel/spinlock.h"
#include "kernel/tlb.h"
#include "mm/vmm.h"

volatile uint32_t tlb_test_seen[2];
vaddr_t tlb_test_va; /* the slot both mappings used */
static volatile uint32_t *volatile reading;
static volatile uint32_t read_step;

static void read_first(void) { tlb_test_seen[read_step] = *reading; }

/* Maps frame a in a kmap slot and has `cpu` read through it. */
static void map_and_read(uint32_t cpu, paddr_t a) {
  tlb_test_seen[0] = tlb_test_seen[1] = 0;
  reading = kmap_window(a >> PAGE_SHIFT);
  read_step = 0;
  ipi_test_call_on(cpu, read_first);
}

/* Unmaps the slot and maps frame b: in the same slot, the first free one.
 * Whether it was the same (if not, there is no reuse to test). */
static bool remap(paddr_t b) {
  vaddr_t first = (vaddr_t)reading;
  kunmap((void *)reading);
  reading = kmap_window(b >> PAGE_SHIFT);
  tlb_test_va = (vaddr_t)reading;
  return tlb_test_va == first;
}

HARNESS_VISIBLE bool tlb_test_kmap_reuse(uint32_t cpu, paddr_t a, paddr_t b) {
  map_and_read(cpu, a);
  bool same = remap(b);
  read_step = 1;
  ipi_test_call_on(cpu, read_first);
  kunmap((void *)reading);
  return same;
}

/* The same, with `cpu` spinning on a lock (interrupts off, in its IPI
 * handler) while CPU 0 unmaps: no IPI reaches it there, so the shootdown
 * is served by the lock's wait polling the mailbox, or CPU 0 would wait
 * for the ack until it gives up (a no-ack panic).  Once CPU 0 lets the lock
 * go, `cpu` reads through the slot. */
static struct spinlock spun = SPINLOCK_INIT(LOCK_TEST_A);

static void spin_then_read(void) {
  spin_lock(&spun);
  tlb_test_seen[1] = *reading;
  spin_unlock(&spun);
}

HARNESS_VISIBLE bool tlb_test_reuse_while_spinning(uint32_t cpu, paddr_t a, paddr_t b) {
  if (!cpu_is_other_online(cpu)) return false;
  map_and_read(cpu, a);
  spin_lock(&spun);
  uint32_t before = cpus[cpu].calls;
  cpus[cpu].call = spin_then_read;
  ipi_send(cpu, IPI_CALL);
  while ((uint16_t)(spun.next - spun.owner) != 2) cpu_relax(); /* it holds a ticket */
  bool same = remap(b);
  spin_unlock(&spun);
  while (cpus[cpu].calls == before) cpu_relax();
  kunmap((void *)reading);
  return same;
}

/* bench: `rounds` shootdowns of one kernel page (an invlpg of a kmap slot
 * everywhere: nothing is unmapped). */
HARNESS_VISIBLE uint32_t tlb_bench_shootdowns(uint32_t rounds) {
  for (uint32_t i = 0; i < rounds; i++) tlb_shootdown_kernel(KMAP_BASE, 1);
  return rounds;
}

/* A CPU stopped with interrupts off (halted in its IPI handler: only an NMI
 * wakes it) never flushes: CPU 0's shootdown of a kmap slot must end in the
 * no-ack record and a panic naming it, not wait for ever. */
static void stop_dead(void) {
  for (;;) halt();
}

HARNESS_VISIBLE bool tlb_test_no_ack(uint32_t cpu) {
  if (!cpu_is_other_online(cpu)) return false;
  cpus[cpu].call = stop_dead;
  ipi_send(cpu, IPI_CALL);
  kunmap(kmap_window(0)); /* frame 0: any frame will do, nothing is read */
  return true;
}

/* A range of more than TLB_FULL_FLUSH_PAGES pages is flushed whole: as
 * tlb_test_kmap_reuse, but the slot is remapped with the shootdown off
 * (CPU n keeps slot -> A) and then one range of TLB_FULL_FLUSH_PAGES + 1
 * pages ending at the slot is shot down: only a whole flush on CPU n
 * (CR4.PGE off and on) drops its entry, for the range's invlpg loop is
 * not run there. */
HARNESS_VISIBLE bool tlb_test_full_flush(uint32_t cpu, paddr_t a, paddr_t b) {
  map_and_read(cpu, a);
  bool enabled = tlb_shootdown_enabled;
  tlb_shootdown_enabled = false;
  bool same = remap(b);
  tlb_shootdown_enabled = enabled;
  uint32_t pages = TLB_FULL_FLUSH_PAGES + 1;
  tlb_shootdown_kernel(tlb_test_va - (pages - 1) * PAGE_SIZE, pages);
  read_step = 1;
  ipi_test_call_on(cpu, read_first);
  kunmap((void *)reading);
  return same;
}
