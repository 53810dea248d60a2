/* Trap entry stubs.  Every stub leaves the same frame (struct trapframe): the
 * CPU's eip/cs/eflags (and esp/ss from ring 3), an error code (a 0 pushed by
 * the stub when the CPU pushes none), the vector, the general registers and
 * the data segment registers.  trap() in kernel/trap.c gets a pointer to it. */

#include "arch/i386/gdt.h"

/* The CPU pushes an error code for vectors 8, 10-14, 17, 21, 29 and 30. */
.macro stub vector
.align 4
isr_stub_\vector:
  .if !(\vector == 8 || (\vector >= 10 && \vector <= 14) || \vector == 17 || \vector == 21 || \vector == 29 || \vector == 30)
  push $0
  .endif
  push $\vector
  jmp trap_common
.endm

.macro stub_address vector
  .long isr_stub_\vector
.endm

.section .text
.altmacro
.set i, 0
.rept 48
  stub %i
  .set i, i + 1
.endr
stub 128
stub 239
stub 240
stub 241
stub 242
stub 255

/* Call-frame information (in .debug_frame, as the C code's) so that a
 * debugger unwinds from trap() into the code the trap interrupted: its EIP
 * and registers are in the trapframe, and its ESP was where the CPU's
 * eflags slot ends (a trap in ring 0 pushes no esp/ss).  Offsets are from
 * that CFA: eflags -4, cs -8, eip -12, err -16, vector -20, then pusha's
 * eax -24 .. edi -52.  A trap from ring 3 unwinds to the user EIP and no
 * further (the user stack is not where this CFA says). */
.cfi_sections .debug_frame
trap_common:
  .cfi_startproc simple
  .cfi_signal_frame
  .cfi_def_cfa %esp, 20
  .cfi_offset %eip, -12
  pusha
  .cfi_adjust_cfa_offset 32
  .cfi_offset %eax, -24
  .cfi_offset %ecx, -28
  .cfi_offset %edx, -32
  .cfi_offset %ebx, -36
  .cfi_offset %ebp, -44
  .cfi_offset %esi, -48
  .cfi_offset %edi, -52
  push %ds
  push %es
  push %fs
  push %gs
  .cfi_adjust_cfa_offset 16
  mov $SEG_KDATA, %ax
  mov %ax, %ds
  mov %ax, %es
  mov %ax, %fs
  mov $SEG_KPERCPU, %ax     /* this CPU's struct cpu (kernel/smp.h) */
  mov %ax, %gs
  cld
  /* SMAP: the kernel starts every trap with user access closed, whatever
   * EFLAGS.AC it came in with: ring 3 may set AC itself, and a fault inside
   * copy_*_user arrives with it open.  iret gives the interrupted code its
   * own flags back.  Without SMAP, AC means nothing in ring 0 (and clac does
   * not exist). */
  cmpb $0, smap_enabled
  je 1f
  clac
1:
  push %esp                 /* struct trapframe * */
  .cfi_adjust_cfa_offset 4
  call trap
  add $4, %esp
  .cfi_adjust_cfa_offset -4
.global trap_return
trap_return:
  pop %gs
  pop %fs
  pop %es
  pop %ds
  .cfi_adjust_cfa_offset -16
  popa
  .cfi_adjust_cfa_offset -32
  add $8, %esp              /* vector and error code */
  .cfi_adjust_cfa_offset -8
  iret
  .cfi_endproc

/* Addresses of the stubs for vectors 0..47, then the syscall, LAPIC timer, IPI and spurious
 * stubs. */
.section .rodata
.align 4
.global isr_stub_table
isr_stub_table:
.set i, 0
.rept 48
  stub_address %i
  .set i, i + 1
.endr
.global isr_stub_syscall, isr_stub_lapic_timer, isr_stub_ipi, isr_stub_spurious
isr_stub_syscall:
  .long isr_stub_128
isr_stub_lapic_timer:
  .long isr_stub_239
isr_stub_ipi:               /* VEC_IPI_FIRST..VEC_IPI_LAST (kernel/ipi.h) */
  .long isr_stub_240, isr_stub_241, isr_stub_242
isr_stub_spurious:
  .long isr_stub_255

.section .note.GNU-stack, "", @progbits
