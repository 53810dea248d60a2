/* Entry from a multiboot loader (GRUB, or QEMU -kernel).
 *
 * The loader leaves us in 32-bit protected mode, paging off, EAX = the
 * bootloader magic, EBX = physical address of the multiboot information.  The
 * kernel is linked at KERNEL_BASE + 1 MiB but loaded at 1 MiB, so until paging
 * is on every absolute address must be converted with PHYS().  We map the
 * first BOOT_MAPPED_LIMIT bytes of physical memory twice, at 0 (so the next
 * instruction after enabling paging still exists) and at KERNEL_BASE, then jump
 * to the higher half.  vmm_init later replaces these tables with the kernel's
 * own, which drop the identity map. */

#include "arch/i386/multiboot.h"

#define KERNEL_BASE 0xC0000000
#define PHYS(x) ((x) - KERNEL_BASE)
#define BOOT_PT_COUNT 4                       /* 4 x 4 MiB = BOOT_MAPPED_LIMIT */
#define PTE_PW 0x003                          /* present + writable */
#define CR0_PG_WP 0x80010000

.section .multiboot, "a"
.align 4
multiboot_header:
  .long MULTIBOOT_HEADER_MAGIC
  .long MULTIBOOT_PAGE_ALIGN | MULTIBOOT_MEMORY_INFO
  .long -(MULTIBOOT_HEADER_MAGIC + (MULTIBOOT_PAGE_ALIGN | MULTIBOOT_MEMORY_INFO))

.section .bss.boot_tables, "aw", @nobits
.align 4096
.global kernel_page_directory
kernel_page_directory:
  .skip 4096
boot_page_tables:
  .skip 4096 * BOOT_PT_COUNT

.section .text
.global _start
.type _start, @function
_start:
  cli
  cld
  mov %eax, %esi                    /* keep the magic and the info pointer */
  mov %ebx, %edi

  /* Fill the boot page tables: frame i -> i * 4 KiB, present + writable. */
  mov $PHYS(boot_page_tables), %edx
  xor %ecx, %ecx
1:
  mov %ecx, %eax
  shl $12, %eax
  or $PTE_PW, %eax
  mov %eax, (%edx, %ecx, 4)
  inc %ecx
  cmp $(1024 * BOOT_PT_COUNT), %ecx
  jne 1b

  /* Point PDEs 0.. (identity) and 768.. (higher half) at the same tables. */
  mov $PHYS(kernel_page_directory), %edx
  mov $PHYS(boot_page_tables) + PTE_PW, %eax
  xor %ecx, %ecx
2:
  mov %eax, (%edx, %ecx, 4)
  mov %eax, (KERNEL_BASE >> 22) * 4(%edx, %ecx, 4)
  add $4096, %eax
  inc %ecx
  cmp $BOOT_PT_COUNT, %ecx
  jne 2b

  mov %edx, %cr3
  mov %cr0, %eax
  or $CR0_PG_WP, %eax
  mov %eax, %cr0

  lea higher_half, %eax             /* absolute: a KERNEL_BASE address */
  jmp *%eax

higher_half:
  mov $boot_stack_top, %esp
  xor %ebp, %ebp                    /* end of the frame chain for backtraces */
  push %edi                         /* multiboot info (physical) */
  push %esi                         /* bootloader magic */
  call kmain
  /* kmain never returns; if it does, stop here for good. */
3:
  cli
  hlt
  jmp 3b
.size _start, . - _start

/* The boot stack, with an unmapped guard page below it once vmm_init runs, so
 * an overflow faults instead of silently running into other data. */
.section .bss.boot_stack, "aw", @nobits
.align 4096
.global boot_stack_guard, boot_stack_bottom, boot_stack_top
boot_stack_guard:
  .skip 4096
boot_stack_bottom:
  .skip 16384
boot_stack_top:

.section .note.GNU-stack, "", @progbits
