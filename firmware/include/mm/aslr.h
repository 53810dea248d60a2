/* Address-space layout randomisation for user processes.
 *
 * Each process gets its heap base, shared-memory base and stack top at random
 * page-aligned places in 0x80000000-0xBFFFFFFF, in ranges that cannot overlap
 * whatever is drawn (heap below shm below stack, each with room to grow):
 *   heap_base  in [0x80000000, 0x88000000)  15 bits   (+256 MiB of heap)
 *   shm_base   in [0x98000000, 0xA8000000)  16 bits   (+64 MiB of attachments)
 *   stack_top  in (0xB0000000, 0xC0000000]  16 bits   (-1 MiB stack, guard page)
 * and the first place mmap looks for room (mm/mmap.h), below all of them:
 *   mmap_base  in [0x40000000, 0x60000000)  17 bits   (first fit up to 0x80000000)
 * Randomness comes from RDRAND when the CPU has it, else from a mix of RDTSC
 * and the PIT counter.  Command line: `aslr=off` gives the fixed bases of
 * mm/uvm.h; `aslr_seed=N` replaces the hardware source by a PRNG seeded with N,
 * so two boots give the same layouts. */
#pragma once

#include "types.h"

struct user_layout {
  vaddr_t heap_base, shm_base, stack_top;
  vaddr_t mmap_base; /* where kernel-chosen mmap addresses start (mm/mmap.h) */
};

/* The source chosen at boot: prints `ASLR mode=<off|seed|rdrand|tsc-pit> ...`. */
void aslr_init(void);
struct user_layout aslr_layout(void);
/* 32 random bits from the same source (also the stack-protector canary's). */
uint32_t aslr_random(void);
