/* What the CPU can do, detected once at boot with CPUID (when it exists). */
#pragma once

#include "types.h"

struct cpu_features {
  bool cpuid;   /* the CPUID instruction exists (not on every 486) */
  bool tsc, pse, pge, smep, smap, rdrand, msr, apic;
  bool pae;     /* CPUID.1:EDX.PAE: 64-bit page table entries */
  bool nx;      /* CPUID.80000001h:EDX.NX: EFER.NXE, execute-disable pages */
  uint32_t max_leaf, max_ext_leaf; /* max_ext_leaf: 0 without extended leaves */
  char vendor[13];
};

extern struct cpu_features cpu_features;

/* Detects the features and prints one CPU record:
 *   CPU vendor=<v> cpuid=<0|1> tsc=.. pse=.. pge=.. smep=.. smap=.. rdrand=.. pae=.. nx=.. */
void cpu_features_init(void);

/* Turns on SMEP and SMAP where the CPU has them, and says so:
 *   SECURITY smep=on|unavailable smap=on|unavailable */
void cpu_protections_init(void);
extern bool smap_enabled;

/* SMAP: user pages are off limits to the kernel unless EFLAGS.AC is set;
 * copy_from_user/copy_to_user open that window and close it again. */
static inline void user_access_begin(void) {
  if (smap_enabled) __asm__ volatile("stac" ::: "memory", "cc");
}
static inline void user_access_end(void) {
  if (smap_enabled) __asm__ volatile("clac" ::: "memory", "cc");
}
