/* Privileged instructions and control registers, as inline functions. */
#pragma once

#include "types.h"

#define CR0_PE 0x00000001u  /* protected mode */
#define CR0_WP 0x00010000u  /* supervisor writes honour read-only pages */
#define CR0_PG 0x80000000u  /* paging */

#define CR4_PSE 0x00000010u  /* 4 MiB pages */
#define CR4_PAE 0x00000020u  /* PAE paging: 64-bit entries, a PDPT in CR3 */
#define CR4_PGE 0x00000080u  /* global pages */
#define CR4_SMEP 0x00100000u /* supervisor may not execute user pages */
#define CR4_SMAP 0x00200000u /* supervisor may not touch user pages unless EFLAGS.AC */

#define MSR_EFER 0xC0000080u /* extended feature enable register */
#define EFER_NXE 0x00000800u /* bit 63 of a PAE entry is execute-disable */

#define EFLAGS_IF 0x00000200u  /* interrupts enabled */
#define EFLAGS_AC 0x00040000u  /* alignment check / SMAP override */
#define EFLAGS_ID 0x00200000u  /* writable iff CPUID exists */

#define DEFINE_CR_ACCESSORS(n)                                   \
  static inline uint32_t read_cr##n(void) {                      \
    uint32_t v;                                                  \
    __asm__ volatile("mov %%cr" #n ", %0" : "=r"(v));            \
    return v;                                                    \
  }                                                              \
  static inline void write_cr##n(uint32_t v) {                   \
    __asm__ volatile("mov %0, %%cr" #n : : "r"(v) : "memory");   \
  }
DEFINE_CR_ACCESSORS(0)
DEFINE_CR_ACCESSORS(2)
DEFINE_CR_ACCESSORS(3)
DEFINE_CR_ACCESSORS(4)
#undef DEFINE_CR_ACCESSORS

static inline void invlpg(vaddr_t va) {
  __asm__ volatile("invlpg (%0)" : : "r"(va) : "memory");
}

static inline uint32_t read_eflags(void) {
  uint32_t v;
  __asm__ volatile("pushfl; popl %0" : "=r"(v));
  return v;
}

static inline void write_eflags(uint32_t v) {
  __asm__ volatile("pushl %0; popfl" : : "r"(v) : "memory", "cc");
}

static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void sti(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }
static inline void halt(void) { __asm__ volatile("hlt" ::: "memory"); }

/* Under QEMU's -icount shift=0 the TSC advances one tick per instruction,
 * which is what the benchmarks count. */
static inline uint64_t rdtsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((uint64_t)hi << 32) | lo;
}

static inline uint64_t rdmsr(uint32_t msr) {
  uint32_t lo, hi;
  __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
  return ((uint64_t)hi << 32) | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t v) {
  __asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t *a, uint32_t *b,
                         uint32_t *c, uint32_t *d) {
  __asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(sub));
}
