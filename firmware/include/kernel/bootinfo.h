/* What the boot loader told us, copied out of the multiboot information into
 * kernel memory at the very start of kmain, so nothing later depends on where
 * the loader happened to leave it (that memory is not reserved). */
#pragma once

#include "types.h"

#define BOOT_MAX_MEMORY_REGIONS 32
#define BOOT_CMDLINE_MAX 512

/* One memory-map entry, clipped to the 32-bit physical address space.
 * end is exclusive and 64-bit so a region ending exactly at 4 GiB fits. */
struct boot_memory_region {
  uint64_t start, end;
  uint32_t type; /* MULTIBOOT_MEMORY_AVAILABLE (1) or something reserved */
};

struct boot_module {
  paddr_t start, end;  /* end exclusive */
  const char *cmdline; /* the module's whole command line (its path first), in the arena */
};

struct boot_info {
  uint32_t flags;                    /* multiboot_info.flags as received */
  uint32_t mem_lower_kib, mem_upper_kib;
  uint32_t region_count;
  struct boot_memory_region regions[BOOT_MAX_MEMORY_REGIONS];
  /* The module table and its command lines, however many and however long
   * the loader passed, live in the boot arena: whole pages of their own
   * after the kernel, the modules and everything of the loader's that is
   * copied (so the copy never overwrites its source).  The PMM reserves it. */
  uint32_t module_count;
  struct boot_module *modules;
  paddr_t arena_start, arena_end; /* page aligned; empty without modules */
  char cmdline[BOOT_CMDLINE_MAX];
};

extern struct boot_info boot_info;

/* Copies the loader's information.  Panics on a wrong magic number or on
 * information the early mappings cannot reach; truncation of an over-long
 * command line or memory map is reported with a BOOTINFO record. */
void bootinfo_init(uint32_t magic, paddr_t mbi_phys);

/* Whether every byte of [start, end) lies in some region of the boot memory
 * map, of any type (available, ACPI, reserved): what is not in the map is a
 * hole (MMIO, or nothing at all).  An empty range is covered. */
bool boot_map_covers(uint64_t start, uint64_t end);
