/* Segments: flat 4 GiB code and data for ring 0 and ring 3, the TSS that
 * tells the CPU which stack to use when ring 3 traps into the kernel, and the
 * per-CPU segment.  Every CPU has its own GDT (in its struct cpu,
 * kernel/smp.h) with the same selectors: its TSS descriptors name its own
 * TSSs, and SEG_KPERCPU's base is its own struct cpu. */
#pragma once

#define SEG_KCODE 0x08
#define SEG_KDATA 0x10
#define SEG_UCODE 0x1B /* GDT index 3, RPL 3 */
#define SEG_UDATA 0x23 /* GDT index 4, RPL 3 */
#define SEG_TSS 0x28
#define SEG_DF_TSS 0x30 /* the double-fault task's TSS */
#define SEG_KPERCPU 0x38 /* data, base = this CPU's struct cpu: the kernel's GS */
#define GDT_ENTRIES 8

#ifndef __ASSEMBLER__
#include "types.h"

struct tss {
  uint32_t link, esp0, ss0, esp1, ss1, esp2, ss2;
  uint32_t cr3, eip, eflags, eax, ecx, edx, ebx, esp, ebp, esi, edi;
  uint32_t es, cs, ss, ds, fs, gs, ldt;
  uint16_t trap, iomap_base;
} __attribute__((packed));
_Static_assert(sizeof(struct tss) == 104, "the i386 TSS is 104 bytes");

struct gdt_entry {
  uint16_t limit_low, base_low;
  uint8_t base_mid, access, flags_limit_high, base_high;
} __attribute__((packed));
_Static_assert(sizeof(struct gdt_entry) == 8, "a descriptor is 8 bytes");

struct cpu;
/* The BSP's: gdt_load(&cpus[0]). */
void gdt_init(void);
/* Fills c's GDT and TSSs and loads them on the calling CPU: lgdt, every
 * segment register (GS = SEG_KPERCPU), ltr.  Once per CPU: ltr marks the TSS
 * busy. */
void gdt_load(struct cpu *c);
/* The kernel stack ring-3 traps land on (the current process's), on this CPU. */
void tss_set_kernel_stack(vaddr_t esp0);
#endif /* __ASSEMBLER__ */
