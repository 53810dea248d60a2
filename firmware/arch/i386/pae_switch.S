/* void pae_enable(paddr_t pdpt, uint32_t nxe)
 *
 * Turns legacy 32-bit paging into PAE paging with `pdpt` (physical, 32-byte
 * aligned, below 4 GiB) as CR3, and sets EFER.NXE when nxe is nonzero.
 *
 * CR4.PAE changes how every entry is read, so it cannot flip under a live
 * legacy mapping of the running code.  Instead this runs from the identity
 * mapping of low memory for a few instructions with paging off: jump to this
 * code's physical address (the boot tables still map the first 16 MiB at 0),
 * turn paging off, load CR3, set CR4.PAE and EFER.NXE, turn paging on (the
 * CPU loads the four PDPT entries now), and jump back to the higher half.
 * The new tables must map this code at its physical address too: vmm.c's
 * temporary PDPT does.  Nothing between paging off and on touches memory
 * (ESP holds a higher-half address that means nothing without paging);
 * interrupts are off during boot. */

#define KERNEL_BASE 0xC0000000
#define CR0_PG 0x80000000
#define CR4_PAE 0x00000020
#define MSR_EFER 0xC0000080
#define EFER_NXE 0x00000800

.section .text
.global pae_enable
.type pae_enable, @function
pae_enable:
  push %ebx
  mov 8(%esp), %edx                 /* pdpt */
  mov 12(%esp), %ebx                /* nxe */
  mov $(1f - KERNEL_BASE), %eax
  jmp *%eax
1:
  mov %cr0, %eax                    /* running at the physical address now */
  and $~CR0_PG, %eax
  mov %eax, %cr0
  mov %edx, %cr3
  mov %cr4, %eax
  or $CR4_PAE, %eax
  mov %eax, %cr4
  test %ebx, %ebx
  jz 2f
  mov $MSR_EFER, %ecx
  rdmsr
  or $EFER_NXE, %eax
  wrmsr
2:
  mov %cr0, %eax
  or $CR0_PG, %eax
  mov %eax, %cr0
  mov $3f, %eax                     /* absolute: the higher-half address */
  jmp *%eax
3:
  pop %ebx
  ret
.size pae_enable, . - pae_enable

.section .note.GNU-stack, "", @progbits
