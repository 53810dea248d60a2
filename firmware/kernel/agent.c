/* Functions that exist for the harness to call through GDB: provoking
 * exceptions, powering off, and a trivial call to time the call path.  They
 * are ordinary kernel code and run with the kernel's own state. */
#include "arch/i386/cpu.h"
#include "kernel/cpufeatures.h"
#include "kernel/kprintf.h"
#include "kernel/panic.h"
#include "mm/fault.h"
#include "mm/heap.h"
#include "mm/pmm.h"
#include "mm/uvm.h"
#include "mm/vmm.h"
#include "types.h"

HARNESS_VISIBLE uint32_t agent_nop(uint32_t x) { return x; }

HARNESS_VISIBLE void agent_poweroff(void) { poweroff(0); }

/* #GP with the selector as its error code: load a selector beyond the GDT. */
HARNESS_VISIBLE void agent_raise_gp(uint16_t selector) {
  __asm__ volatile("mov %0, %%fs" : : "r"(selector));
}

/* #UD: an instruction defined to be invalid. */
HARNESS_VISIBLE void agent_raise_ud(void) { __asm__ volatile("ud2"); }

/* #DE: divide by zero (no error code). */
HARNESS_VISIBLE uint32_t agent_divide(uint32_t a, uint32_t b) {
  uint32_t q;
  __asm__ volatile("xor %%edx, %%edx\n\tdivl %2" : "=a"(q) : "a"(a), "r"(b) : "edx");
  return q;
}

/* A kernel read of any address (a #PF if it is unmapped). */
HARNESS_VISIBLE uint32_t agent_read32(uint32_t addr) { return *(volatile uint32_t *)addr; }

/* A kernel write of any address. */
HARNESS_VISIBLE void agent_write32(uint32_t addr, uint32_t value) {
  *(volatile uint32_t *)addr = value;
}

/* Scratch memory the harness may use for arguments (strings, buffers). */
uint8_t agent_scratch[4096] __attribute__((aligned(4096), used));

/* Never returns: for testing how the harness handles a hung guest. */
HARNESS_VISIBLE void agent_spin(void) {
  for (;;) __asm__ volatile("pause" ::: "memory");
}

/* Never called by the kernel: a location the guest never reaches. */
HARNESS_VISIBLE void agent_never_called(void) { __asm__ volatile("" ::: "memory"); }

/* Instructions retired by a counted loop, read from the TSC: under
 * -icount shift=0 the same n must give the same count on every run. */
HARNESS_VISIBLE uint32_t agent_count_loop(uint32_t n) {
  uint32_t lo0, hi0, lo1, hi1;
  __asm__ volatile("rdtsc" : "=a"(lo0), "=d"(hi0));
  for (volatile uint32_t i = 0; i < n; i++) {
  }
  __asm__ volatile("rdtsc" : "=a"(lo1), "=d"(hi1));
  (void)hi0;
  (void)hi1;
  return lo1 - lo0;
}

/* A triple fault: an empty IDT leaves no way to deliver the breakpoint, nor
 * the double fault that follows, and the CPU shuts down (QEMU -no-reboot
 * then exits). */
HARNESS_VISIBLE void agent_triple_fault(void) {
  struct {
    uint16_t limit;
    uint32_t base;
  } __attribute__((packed)) empty = {0, 0};
  __asm__ volatile("lidt %0\n\tint3" : : "m"(empty));
}

/* -- physical memory ------------------------------------------------------- */

/* Frames taken by agent_pmm_exhaust, chained through their first word. */
paddr_t agent_pmm_chain;

/* Allocates frames until allocate_page returns NULL; returns how many it got.
 * The harness walks the chain (physically) to check every frame. */
HARNESS_VISIBLE uint32_t agent_pmm_exhaust(void) {
  uint32_t count = 0;
  for (paddr_t pa; (pa = (paddr_t)allocate_page()) != 0; count++) {
    uint32_t *frame = kmap(pa);
    *frame = agent_pmm_chain;
    kunmap(frame);
    agent_pmm_chain = pa;
  }
  return count;
}

/* Frees every frame agent_pmm_exhaust took; returns how many. */
HARNESS_VISIBLE uint32_t agent_pmm_release(void) {
  uint32_t count = 0;
  while (agent_pmm_chain) {
    paddr_t pa = agent_pmm_chain;
    uint32_t *frame = kmap(pa);
    agent_pmm_chain = *frame;
    kunmap(frame);
    free_page((void *)pa);
    count++;
  }
  return count;
}

/* free_page from a known call site, so a test can check the reported caller. */
HARNESS_VISIBLE void agent_free_page(uint32_t pa) { free_page((void *)pa); }

/* -- virtual memory ---------------------------------------------------------- */

/* Kernel accesses that may fault: 0 or -EFAULT, the value read in
 * agent_probe_value.  The fault (if any) is recorded with action=fixup. */
uint32_t agent_probe_value;

HARNESS_VISIBLE int agent_probe_read(uint32_t va) { return probe_read32(va, &agent_probe_value); }

HARNESS_VISIBLE int agent_probe_write(uint32_t va, uint32_t value) {
  return probe_write32(va, value);
}

HARNESS_VISIBLE void agent_invlpg(uint32_t va) { invlpg(va); }

HARNESS_VISIBLE void agent_reload_cr3(void) { write_cr3(read_cr3()); }

/* -- kernel heap -------------------------------------------------------------- */

/* The heap API from known call sites, so tests can check reported callers
 * and leak reports name them. */
HARNESS_VISIBLE void *agent_kmalloc(uint32_t size) { return kmalloc(size); }
HARNESS_VISIBLE void agent_kfree(void *p) { kfree(p); }
HARNESS_VISIBLE void *agent_krealloc(void *p, uint32_t size) { return krealloc(p, size); }

/* A pointer into this function's own stack frame: never a heap block. */
HARNESS_VISIBLE void agent_kfree_stack_address(void) {
  volatile uint32_t local = 0;
  kfree((void *)&local);
}

/* Allocates blocks of `size` until kmalloc fails, chaining them through their
 * first word (head in agent_heap_chain); returns how many. */
void *agent_heap_chain;

HARNESS_VISIBLE uint32_t agent_heap_exhaust(uint32_t size) {
  uint32_t count = 0;
  for (void **p; (p = kmalloc(size)) != NULL; count++) {
    *p = agent_heap_chain;
    agent_heap_chain = p;
  }
  return count;
}

HARNESS_VISIBLE uint32_t agent_heap_release(void) {
  uint32_t count = 0;
  while (agent_heap_chain) {
    void **p = agent_heap_chain;
    agent_heap_chain = *p;
    kfree(p);
    count++;
  }
  return count;
}

/* The same read with user access open (SMAP's EFLAGS.AC), as copy_from_user
 * reads user memory. */
HARNESS_VISIBLE int agent_probe_read_user(uint32_t va) {
  user_access_begin();
  int rc = probe_read32(va, &agent_probe_value);
  user_access_end();
  return rc;
}

/* -- security ------------------------------------------------------------------ */

/* Recursion `depth` frames deep (1 KiB each): far deeper than any kernel
 * stack, it overflows into the guard page. */
HARNESS_VISIBLE uint32_t agent_recurse(uint32_t depth) {
  volatile uint8_t frame[1024];
  frame[depth % sizeof(frame)] = (uint8_t)depth;
  return depth ? agent_recurse(depth - 1) + frame[0] : 0;
}

/* The same, far deeper, with nothing to pass: for a CPU told to run it
 * (kernel/ipi.h's ipi_test_call_on). */
HARNESS_VISIBLE void agent_overflow(void) { agent_recurse(100000); }

/* The harness stops here, inside agent_canary_victim's frame, to smash its
 * canary; the victim then returns through the stack protector's check. */
HARNESS_VISIBLE void agent_canary_hook(volatile char *buffer) {
  __asm__ volatile("" : : "r"(buffer) : "memory");
}

HARNESS_VISIBLE uint32_t agent_canary_victim(void) {
  volatile char buffer[32];
  for (uint32_t i = 0; i < sizeof(buffer); i++) buffer[i] = 0; /* no stale canary copies */
  buffer[0] = 1;
  agent_canary_hook(buffer);
  return buffer[0];
}

/* A plain kernel read of a user address in another address space, the way
 * kernel code must not do it (SMAP forbids it); and the same read through
 * copy_from_user, the way it may.  0 or -EFAULT; the value in
 * agent_probe_value.  The caller's address space is restored. */
HARNESS_VISIBLE int agent_read_user_in(page_directory_t *dir, uint32_t va, int use_copy) {
  page_directory_t *saved = current_directory;
  switch_page_directory(dir);
  int rc = use_copy ? copy_from_user(&agent_probe_value, va, 4)
                    : probe_read32(va, &agent_probe_value);
  switch_page_directory(saved);
  return rc;
}

/* A record holding `len` bytes at p, escaped by %*pq, and the same bytes up
 * to the first NUL by %pq: the firmware's half of the escaping round trip. */
HARNESS_VISIBLE void agent_record_bytes(const char *p, uint32_t len) {
  krecord("AGENT bytes=%*pq len=%u text=%pq\n", (int)len, p, len, p);
}
