/* Process entry.  The kernel leaves ESP pointing at argc, then argv. */
.section .text.start, "ax"
.global _start
_start:
  mov (%esp), %eax
  mov 4(%esp), %edx
  push %edx
  push %eax
  call main
  push %eax
  call exit
1:
  jmp 1b

.section .note.GNU-stack, "", @progbits
