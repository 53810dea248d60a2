/* The AP trampoline: copied to AP_TRAMPOLINE_PHYS, where a SIPI starts an AP
 * in real mode (CS = 0x0800, IP = 0).  It turns on protected mode with a
 * flat GDT of its own, then paging on the boot tables the BSP built for it
 * (vmm_boot_tables_build: this page mapped at its own address, because EIP
 * is still here when paging comes on, plus the kernel half), and jumps to
 * ap_main in the higher half on the AP's own stack.  ap_main loads the
 * kernel's CR3, GDT, TSS and IDT.
 *
 * First the AP claims the parameter block: the BSP writes the claim word as
 * the APIC ID of the AP it waits for, plus one, and an AP takes it (an
 * atomic compare-exchange to 0) only if that is its own ID (CPUID leaf 1,
 * which works in real mode).  Any other CPU halts here for good: one that
 * starts after the BSP gave up on it (the claim taken back, or rewritten
 * for the next AP before a late INIT reached it) never runs on stacks given
 * back or on another AP's parameters.
 *
 * EFER.NXE is set before paging: it is per CPU, and with PAE tables that
 * have NX bits a CPU without it takes a reserved-bit #PF on its first NX page
 * (its stack).
 *
 * Assembled at the kernel's addresses but run at AP_TRAMPOLINE_PHYS: every
 * absolute address in it is written AT(label). */
#include "arch/i386/ap_trampoline.h"
#include "arch/i386/gdt.h"

#define AT(label) (AP_TRAMPOLINE_PHYS + ((label) - ap_trampoline_start))
#define CR0_PE 0x1
#define MSR_EFER 0xC0000080
#define EFER_NXE 0x800

.section .rodata
.balign 16
.global ap_trampoline_start, ap_trampoline_end, ap_params
.code16
ap_trampoline_start:
  cli
  cld
  xor %ax, %ax
  mov %ax, %ds
  mov $1, %eax
  cpuid
  shr $24, %ebx                     /* EBX[31:24]: this CPU's initial APIC ID */
  lea 1(%ebx), %eax                 /* the claim the BSP wrote for this CPU */
  xor %ecx, %ecx
  lock cmpxchg %ecx, AT(ap_params + AP_PARAM_CLAIM)
  je 1f
2:
  cli
  hlt
  jmp 2b                            /* nobody is waiting for this CPU */
1:
  lgdtl AT(tramp_gdtr)
  mov %cr0, %eax
  or $CR0_PE, %eax
  mov %eax, %cr0
  ljmpl $SEG_KCODE, $AT(protected)

.code32
protected:
  mov $SEG_KDATA, %ax
  mov %ax, %ds
  mov %ax, %es
  mov %ax, %ss
  mov %ax, %fs
  mov %ax, %gs
  mov AT(ap_params + AP_PARAM_CR4), %eax
  mov %eax, %cr4
  cmpl $0, AT(ap_params + AP_PARAM_EFER_NXE)
  je 1f
  mov $MSR_EFER, %ecx
  rdmsr
  or $EFER_NXE, %eax
  wrmsr
1:
  mov AT(ap_params + AP_PARAM_CR3), %eax
  mov %eax, %cr3
  mov AT(ap_params + AP_PARAM_CR0), %eax
  mov %eax, %cr0                    /* paging on: still running here, mapped 1:1 */
  mov AT(ap_params + AP_PARAM_STACK), %esp
  pushl AT(ap_params + AP_PARAM_CPU)
  pushl $0                          /* no return address: ap_main never returns */
  jmp *AT(ap_params + AP_PARAM_ENTRY)

/* Flat 4 GiB code and data at the kernel's selectors (SEG_KCODE, SEG_KDATA),
 * so the segment registers stay valid until ap_main loads the CPU's GDT. */
.balign 8
tramp_gdt:
  .quad 0
  .quad 0x00CF9A000000FFFF
  .quad 0x00CF92000000FFFF
tramp_gdtr:
  .word 3 * 8 - 1
  .long AT(tramp_gdt)

.balign 4
ap_params:
  .space AP_PARAMS_SIZE
ap_trampoline_end:

.section .note.GNU-stack, "", @progbits
