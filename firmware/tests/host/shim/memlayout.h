/* Host build of the PMM (buddy_test.c): physical memory is a host buffer,
 * host_ram; the constants the PMM uses are the firmware's (memlayout.h). */
#pragma once

#include "types.h"

#define KERNEL_BASE 0xC0000000u
#define KERNEL_LOAD_PHYS 0x00100000u
#define DIRECT_MAP_LIMIT 0x30000000u
#define BOOT_MAPPED_LIMIT 0x01000000u

extern char *host_ram;          /* physical address 0 */
extern paddr_t host_kernel_end; /* where the "kernel image" ends */

static inline void *P2V(paddr_t pa) { return host_ram + pa; }
static inline paddr_t V2P(const void *va) { return (paddr_t)((const char *)va - host_ram); }
#define __kernel_end (host_ram + host_kernel_end)
