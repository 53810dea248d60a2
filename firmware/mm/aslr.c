#include "mm/aslr.h"
#include "arch/i386/cpu.h"
#include "arch/i386/io.h"
#include "arch/i386/paging.h"
#include "kernel/cmdline.h"
#include "kernel/cpufeatures.h"
#include "kernel/kprintf.h"
#include "mm/mmap.h"
#include "mm/uvm.h"

enum source { FIXED, SEEDED, RDRAND, TSC_PIT };
static enum source source;
static uint32_t state; /* xorshift state (SEEDED, and the mixer for TSC_PIT) */

static uint32_t xorshift(void) {
  state ^= state << 13;
  state ^= state >> 17;
  state ^= state << 5;
  return state;
}

static uint16_t pit_counter(void) {
  outb(0x43, 0x00); /* latch channel 0 */
  uint8_t lo = inb(0x40);
  return (uint16_t)(lo | inb(0x40) << 8);
}

static uint32_t rdrand(void) {
  uint32_t v;
  bool ok;
  for (int tries = 0; tries < 16; tries++) {
    __asm__ volatile("rdrand %0" : "=r"(v), "=@ccc"(ok));
    if (ok) return v;
  }
  return (uint32_t)rdtsc() ^ xorshift(); /* retry, then fall back (RDRAND implies TSC) */
}

uint32_t aslr_random(void) {
  switch (source) {
  case RDRAND: return rdrand();
  case TSC_PIT:
    state ^= (cpu_features.tsc ? (uint32_t)rdtsc() * 0x9E3779B9u : 0) ^ pit_counter();
    return xorshift();
  default: return xorshift();
  }
}

void aslr_init(void) {
  uint32_t seed;
  bool seeded = cmdline_number("aslr_seed", &seed); /* read (and checked) either way */
  if (!cmdline_bool("aslr", true)) {
    source = FIXED;
  } else if (seeded) {
    source = SEEDED;
    state = seed ? seed : 1;
  } else if (cpu_features.rdrand) {
    source = RDRAND;
  } else {
    source = TSC_PIT;
    state = (uint32_t)(cpu_features.tsc ? rdtsc() : 0) ^ pit_counter() ^ 0x2545F491u;
    if (!state) state = 1;
  }
  static const char *const names[] = {"off", "seed", "rdrand", "tsc-pit"};
  krecord("ASLR mode=%s\n", names[source]);
}

/* A page-aligned address in [base, base + span), uniformly. */
static vaddr_t pick(vaddr_t base, uint32_t span) {
  return base + (aslr_random() % (span / PAGE_SIZE)) * PAGE_SIZE;
}

struct user_layout aslr_layout(void) {
  if (source == FIXED)
    return (struct user_layout){USER_HEAP_BASE, USER_SHM_BASE, USER_STACK_TOP, MMAP_AREA_BASE};
  return (struct user_layout){
      .heap_base = pick(0x80000000u, 0x08000000u),
      .shm_base = pick(0x98000000u, 0x10000000u),
      .stack_top = pick(0xB0000000u, 0x10000000u) + PAGE_SIZE,
      .mmap_base = pick(MMAP_AREA_BASE, MMAP_BASE_SPAN), /* drawn last: seeded layouts keep the rest */
  };
}
