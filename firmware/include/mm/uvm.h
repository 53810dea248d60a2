/* User address spaces: the layout of a process, demand paging, the heap
 * break, and the only way the kernel touches user memory (copy_*_user).
 *
 *   0x00000000            null guard page, never mapped
 *   0x00001000 -          the program's ELF segments (text read-only)
 *   0x40000000 -          mmap regions the kernel places (mm/mmap.h); fixed
 *                         ones may lie anywhere outside the other areas
 *   heap_base  - brk      the heap (sbrk/brk), a zeroed page on first touch
 *   shm_base   -          shared-memory attachments
 *   stack_limit - stack_top  the stack, a zeroed page on first touch;
 *                         the page below stack_limit is the guard page
 *   0xC0000000 -          the kernel, supervisor only
 *
 * heap_base, shm_base and stack_top lie in 0x80000000-0xBFFFFFFF; with
 * `aslr=off` they are USER_HEAP_BASE, USER_SHM_BASE and USER_STACK_TOP. */
#pragma once

#include "mm/fault.h"
#include "types.h"

#define USER_HEAP_BASE 0x80000000u
#define USER_SHM_BASE 0xA0000000u
#define USER_STACK_TOP 0xC0000000u
#define USER_STACK_MAX (1u << 20)  /* the stack may grow to 1 MiB */
#define USER_HEAP_MAX (256u << 20) /* the heap may span 256 MiB of addresses */
#define USER_SHM_SPAN (64u << 20)  /* room for attachments */

struct process;
struct module;

/* Builds p's address space: a directory, the program's segments, the first
 * stack page holding argc/argv.  Sets p's layout; returns 0 or -errno, and
 * the initial user EIP/ESP through entry/esp. */
int uvm_create(struct process *p, const struct module *m, const char *args, vaddr_t *entry,
               vaddr_t *esp);
/* Frees the address space (every owned frame, every page table). */
void uvm_destroy(struct process *p);

/* A page fault in p's user range.  Returns REASON_DEMAND_PAGE or
 * REASON_STACK_GROWTH when a page was provided, else why not (REASON_LIMIT
 * when p is at its resident-pages limit; faults in mmap regions are
 * mmap_fault's). */
enum fault_reason uvm_fault(struct process *p, const struct page_fault *pf);

/* Moves the break by `increment` bytes: the old break, or -ENOMEM (limit) /
 * -EINVAL (below the heap base). */
int32_t uvm_sbrk(struct process *p, int32_t increment);
int uvm_brk(struct process *p, vaddr_t addr);

/* Maps `pages` frames at the first free place of p's shared-memory area:
 * the address, or -ENOMEM (no room, or p's as_pages or resident_pages limit). */
int32_t uvm_map_shared(struct process *p, const pfn_t *frames, uint32_t pages);
void uvm_unmap_shared(struct process *p, vaddr_t va, uint32_t pages);

/* The kernel's only access to user memory.  A range outside user space, or
 * touching memory that is neither mapped nor demand-paged, gives -EFAULT
 * (never a kernel fault).  Return 0 on success. */
int copy_from_user(void *dst, vaddr_t src, size_t n);
int copy_to_user(vaddr_t dst, const void *src, size_t n);
/* A NUL-terminated string of at most max - 1 bytes: its length, -EFAULT, or
 * -EINVAL when it does not end within max bytes. */
int strncpy_from_user(char *dst, vaddr_t src, size_t max);
