/* The harness's inferior calls.
 *
 * GDB's own inferior calls restore every register afterwards, control
 * registers included, so a kernel function that switches CR3 would be undone
 * by the time the test looks.  The harness calls through this trampoline
 * instead: a call made from here leaves CR0/CR3/CR4 as the callee left them,
 * as a call from kernel code would, and restores only what a caller expects
 * back (EAX, ECX, EDX, EFLAGS; the callee preserves the rest by the ABI).
 *
 * The harness writes a frame below the interrupted ESP and points ESP at it:
 *
 *     [func] [argbytes] [arg0] ... [argN-1] [interrupted EIP]  <- ends at old ESP
 *
 * then sets EIP to agent_call_trampoline and continues.  It regains control
 * at agent_call_done (a breakpoint), reads agent_call_result and sets EIP and
 * ESP back, so the `ret` there never runs under the harness.  Not reentrant:
 * one call at a time, interrupts off. */

.section .bss
.align 4
.global agent_call_result
agent_call_result:   .long 0
saved_eax:           .long 0
saved_ecx:           .long 0
saved_edx:           .long 0
saved_eflags:        .long 0
saved_argbytes:      .long 0

.section .text
.global agent_call_trampoline, agent_call_done
.type agent_call_trampoline, @function
agent_call_trampoline:
  mov %eax, saved_eax
  mov %ecx, saved_ecx
  mov %edx, saved_edx
  pushfl
  popl saved_eflags
  pop %eax                  /* the function */
  pop %ecx                  /* bytes of arguments; ESP now points at arg0 */
  mov %ecx, saved_argbytes
  cld                       /* what C code may assume on entry */
  call *%eax
  mov %eax, agent_call_result
  add saved_argbytes, %esp  /* ESP at the interrupted EIP */
  pushl saved_eflags
  popfl
  mov saved_edx, %edx
  mov saved_ecx, %ecx
  mov saved_eax, %eax
agent_call_done:
  ret
.size agent_call_trampoline, . - agent_call_trampoline

.section .note.GNU-stack, "", @progbits
