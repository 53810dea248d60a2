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

trap_common:
  pusha
  push %ds
  push %es
  push %fs
  push %gs
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
  call trap
  add $4, %esp
.global trap_return
trap_return:
  pop %gs
  pop %fs
  pop %es
  pop %ds
  popa
  add $8, %esp              /* vector and error code */
  iret

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
