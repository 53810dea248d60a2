/* What the CPU can do, detected once at boot with CPUID (when it exists). */
#pragma once

#include "types.h"

struct cpu_features {
  bool cpuid;   /* the CPUID instruction exists (not on every 486) */
  bool tsc, pse, pge, smep, smap, rdrand, msr, apic;
  uint32_t max_leaf;
  char vendor[13];
};

extern struct cpu_features cpu_features;

/* Detects the features and prints one CPU record:
 *   CPU vendor=<v> cpuid=<0|1> tsc=.. pse=.. pge=.. smep=.. smap=.. rdrand=.. */
void cpu_features_init(void);
