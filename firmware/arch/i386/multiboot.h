/* Multiboot v1: the header the loader looks for and the information structure
 * it hands over in EBX (Multiboot Specification 0.6.96, section 3). */
#pragma once

#define MULTIBOOT_HEADER_MAGIC 0x1BADB002
#define MULTIBOOT_BOOTLOADER_MAGIC 0x2BADB002 /* in EAX at entry */

#define MULTIBOOT_PAGE_ALIGN 0x00000001  /* modules on 4 KiB boundaries */
#define MULTIBOOT_MEMORY_INFO 0x00000002 /* we want mem_* and the memory map */

/* multiboot_info.flags: which fields are valid. */
#define MBI_FLAG_MEM 0x001
#define MBI_FLAG_CMDLINE 0x004
#define MBI_FLAG_MODS 0x008
#define MBI_FLAG_MMAP 0x040

#define MULTIBOOT_MEMORY_AVAILABLE 1u

#ifndef __ASSEMBLER__
#include "types.h"

struct multiboot_info {
  uint32_t flags;
  uint32_t mem_lower, mem_upper; /* KiB below 1 MiB / above 1 MiB */
  uint32_t boot_device;
  uint32_t cmdline;              /* physical address of a C string */
  uint32_t mods_count, mods_addr;
  uint32_t syms[4];
  uint32_t mmap_length, mmap_addr;
  /* drives, config table, loader name, apm, vbe, framebuffer: unused */
} __attribute__((packed));

struct multiboot_module {
  uint32_t mod_start, mod_end; /* physical, end exclusive */
  uint32_t string;             /* physical address of the module's command line */
  uint32_t reserved;
} __attribute__((packed));

/* Entries are variable-sized: `size` does not count itself. */
struct multiboot_mmap_entry {
  uint32_t size;
  uint64_t addr, len;
  uint32_t type;
} __attribute__((packed));
#endif /* __ASSEMBLER__ */
