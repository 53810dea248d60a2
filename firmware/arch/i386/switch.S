/* Kernel context switch.
 *
 * void switch_context(uint32_t *save_esp, uint32_t new_esp)
 *
 * Saves the callee-saved registers on the current kernel stack, stores the
 * stack pointer in *save_esp, loads new_esp and pops the registers saved
 * there.  A new process's kernel stack is built (kernel/proc.c) to look as if
 * it had switched out just before trap_return, so its first switch-in drops
 * to ring 3 through the same iret every trap uses. */

.section .text
.global switch_context
.type switch_context, @function
switch_context:
  mov 4(%esp), %eax
  mov 8(%esp), %edx
  push %ebp
  push %ebx
  push %esi
  push %edi
  mov %esp, (%eax)
  mov %edx, %esp
  pop %edi
  pop %esi
  pop %ebx
  pop %ebp
  ret
.size switch_context, . - switch_context

.section .note.GNU-stack, "", @progbits
