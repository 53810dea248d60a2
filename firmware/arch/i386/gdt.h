/* Segments: flat 4 GiB code and data for ring 0 and ring 3, and the TSS that
 * tells the CPU which stack to use when ring 3 traps into the kernel. */
#pragma once

#define SEG_KCODE 0x08
#define SEG_KDATA 0x10
#define SEG_UCODE 0x1B /* GDT index 3, RPL 3 */
#define SEG_UDATA 0x23 /* GDT index 4, RPL 3 */
#define SEG_TSS 0x28
#define SEG_DF_TSS 0x30 /* the double-fault task's TSS */

#ifndef __ASSEMBLER__
#include "types.h"

struct tss {
  uint32_t link, esp0, ss0, esp1, ss1, esp2, ss2;
  uint32_t cr3, eip, eflags, eax, ecx, edx, ebx, esp, ebp, esi, edi;
  uint32_t es, cs, ss, ds, fs, gs, ldt;
  uint16_t trap, iomap_base;
} __attribute__((packed));
_Static_assert(sizeof(struct tss) == 104, "the i386 TSS is 104 bytes");

void gdt_init(void);
/* The kernel stack ring-3 traps land on (the current process's). */
void tss_set_kernel_stack(vaddr_t esp0);
#endif /* __ASSEMBLER__ */
