#include "kernel/cpufeatures.h"
#include "arch/i386/cpu.h"
#include "kernel/kprintf.h"
#include "kernel/panic.h"
#include "lib/string.h"

/* CPUID leaf 1 EDX, leaf 1 ECX, leaf 7 EBX feature bits. */
#define CPUID1_EDX_TSC (1u << 4)
#define CPUID1_EDX_PSE (1u << 3)
#define CPUID1_EDX_PAE (1u << 6)
#define CPUID1_EDX_PGE (1u << 13)
#define CPUID1_EDX_MSR (1u << 5)
#define CPUID1_EDX_APIC (1u << 9)
#define CPUID1_ECX_RDRAND (1u << 30)
#define CPUID7_EBX_SMEP (1u << 7)
#define CPUID7_EBX_SMAP (1u << 20)
#define CPUID_EXT_BASE 0x80000000u
#define CPUID_EXT_FEATURES 0x80000001u
#define CPUID_EXT_EDX_NX (1u << 20)

struct cpu_features cpu_features;

/* CPUID exists iff software can flip EFLAGS.ID. */
static bool has_cpuid(void) {
  uint32_t before = read_eflags();
  write_eflags(before ^ EFLAGS_ID);
  uint32_t after = read_eflags();
  write_eflags(before);
  return (before ^ after) & EFLAGS_ID;
}

/* EFLAGS.AC can be flipped on a 486 and later, not on a 386. */
static bool is_486_or_later(void) {
  uint32_t before = read_eflags();
  write_eflags(before ^ EFLAGS_AC);
  uint32_t after = read_eflags();
  write_eflags(before);
  return (before ^ after) & EFLAGS_AC;
}

void cpu_features_init(void) {
  struct cpu_features *f = &cpu_features;
  /* invlpg, used for every mapping change, arrived with the 486. */
  if (!is_486_or_later())
    PANIC("CPU lacks the i486 instruction set (invlpg): need a 486 or later");
  f->cpuid = has_cpuid();
  strlcpy(f->vendor, "unknown", sizeof(f->vendor));
  if (f->cpuid) {
    uint32_t a, b, c, d;
    cpuid(0, 0, &a, &b, &c, &d);
    f->max_leaf = a;
    memcpy(f->vendor + 0, &b, 4);
    memcpy(f->vendor + 4, &d, 4);
    memcpy(f->vendor + 8, &c, 4);
    f->vendor[12] = '\0';
    if (f->max_leaf >= 1) {
      cpuid(1, 0, &a, &b, &c, &d);
      f->tsc = d & CPUID1_EDX_TSC;
      f->pse = d & CPUID1_EDX_PSE;
      f->pge = d & CPUID1_EDX_PGE;
      f->pae = d & CPUID1_EDX_PAE;
      f->msr = d & CPUID1_EDX_MSR;
      f->apic = d & CPUID1_EDX_APIC;
      f->rdrand = c & CPUID1_ECX_RDRAND;
    }
    if (f->max_leaf >= 7) {
      cpuid(7, 0, &a, &b, &c, &d);
      f->smep = b & CPUID7_EBX_SMEP;
      f->smap = b & CPUID7_EBX_SMAP;
    }
    /* The extended leaves: leaf 0x80000000 gives the highest one; a CPU
     * without them returns something else (often leaf 0's data). */
    cpuid(CPUID_EXT_BASE, 0, &a, &b, &c, &d);
    f->max_ext_leaf = (a & CPUID_EXT_BASE) ? a : 0;
    if (f->max_ext_leaf >= CPUID_EXT_FEATURES) {
      cpuid(CPUID_EXT_FEATURES, 0, &a, &b, &c, &d);
      f->nx = d & CPUID_EXT_EDX_NX;
    }
  }
  krecord("CPU vendor=%pq cpuid=%d tsc=%d pse=%d pge=%d smep=%d smap=%d rdrand=%d pae=%d nx=%d\n",
          f->vendor, f->cpuid, f->tsc, f->pse, f->pge, f->smep, f->smap, f->rdrand, f->pae,
          f->nx);
}

bool smap_enabled;

void cpu_protections_init(void) {
  /* Only touch CR4 when there is something to turn on: a 486 has none. */
  if (cpu_features.smep || cpu_features.smap)
    write_cr4(read_cr4() | (cpu_features.smep ? CR4_SMEP : 0) |
              (cpu_features.smap ? CR4_SMAP : 0));
  smap_enabled = cpu_features.smap;
  krecord("SECURITY smep=%s smap=%s\n", cpu_features.smep ? "on" : "unavailable",
          cpu_features.smap ? "on" : "unavailable");
}
