/* Fixed-width types for a freestanding kernel, and the two address kinds.
 *
 * Physical and virtual addresses are both 32-bit integers on i386, which makes
 * them easy to mix up.  Keeping them as distinct typedefs documents which one a
 * function takes; memlayout.h is the only place that converts between them. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint32_t paddr_t; /* a physical address */
typedef uint32_t vaddr_t; /* a virtual address */
/* A physical frame number (address >> 12): how frames above 4 GiB (PAE)
 * travel, since their addresses do not fit a paddr_t.  0 is frame 0, which
 * the PMM never hands out, so it also means "none". */
typedef uint32_t pfn_t;

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((a)-1))
#define ALIGN_DOWN(x, a) ((x) & ~((a)-1))
#define IS_ALIGNED(x, a) (((x) & ((a)-1)) == 0)
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* The caller of the current function, for error reports. */
#define CALLER() ((vaddr_t)__builtin_return_address(0))

/* Keep a function out of line and un-cloned: the harness puts breakpoints on
 * these and calls them from GDB, so they must exist exactly as written. */
#define HARNESS_VISIBLE __attribute__((noinline, noclone, used))
