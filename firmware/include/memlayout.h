/* The kernel's view of the address space, and the one place that converts
 * between physical and virtual addresses.
 *
 *   virtual                      what                                 physical
 *   0x00000000-0x00000FFF        null guard page, never mapped
 *   0x00001000-0x7FFFFFFF        user code and data
 *   0x80000000-0xBFFFFFFF        user heap, stack, shared memory
 *   0xC0000000-0xEFFFFFFF        direct map of low physical memory    0-768 MiB
 *     0xC0100000-                  the kernel image (linked here)      1 MiB-
 *   0xF0000000-0xFEFFFFFF        kernel heap (mapped on demand)
 *   0xFF000000-0xFFBFFFFF        kernel stacks, each below a guard page
 *   0xFFC00000-0xFFFFFFFF        temporary mappings of high frames
 *
 * Everything from 0xC0000000 up is supervisor-only and is described by the same
 * page tables in every page directory. */
#pragma once

#include "types.h"

#define KERNEL_BASE 0xC0000000u       /* start of the kernel half */
#define KERNEL_LOAD_PHYS 0x00100000u  /* where the loader puts the image */
#define USER_BASE 0x00001000u         /* lowest user address (above the null page) */
#define USER_HIGH_BASE 0x80000000u    /* user heap/stack/shm range */
#define USER_TOP 0xC0000000u          /* first address above user space */

#define DIRECT_MAP_BASE KERNEL_BASE
#define DIRECT_MAP_LIMIT 0x30000000u  /* bytes of physical memory direct-mapped */
#define KHEAP_BASE 0xF0000000u
#define KHEAP_LIMIT 0xFF000000u
#define KSTACK_AREA_BASE 0xFF000000u    /* processes' kernel stacks, by table slot */
#define CPU_STACK_AREA_BASE 0xFFB00000u /* the CPUs' idle stacks, by index (smp.c) */
#define KSTACK_AREA_LIMIT 0xFFC00000u
#define KMAP_BASE 0xFFC00000u

/* Physical memory the boot code maps before the kernel builds its own tables:
 * everything memory_init and vmm_init touch must lie below it. */
#define BOOT_MAPPED_LIMIT 0x01000000u

/* Convert within the direct map.  Only valid for physical addresses below
 * DIRECT_MAP_LIMIT; kmap() (vmm.h) handles the rest. */
static inline void *P2V(paddr_t pa) { return (void *)(pa + KERNEL_BASE); }
static inline paddr_t V2P(const void *va) { return (paddr_t)va - KERNEL_BASE; }

/* Symbols from linker.ld, virtual addresses of the image's parts. */
extern char __kernel_start[], __text_start[], __text_end[], __rodata_start[],
    __rodata_end[], __data_start[], __bss_start[], __bss_end[], __kernel_end[];
extern char boot_stack_guard[], boot_stack_bottom[], boot_stack_top[];
