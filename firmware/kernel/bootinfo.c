#include "kernel/bootinfo.h"
#include "arch/i386/multiboot.h"
#include "kernel/kprintf.h"
#include "kernel/panic.h"
#include "lib/string.h"
#include "memlayout.h"

struct boot_info boot_info;

#define FOUR_GIB 0x100000000ull

/* The loader's structures are only reachable through the boot mapping. */
static const void *early_ptr(paddr_t pa, size_t len, const char *what) {
  if (pa >= BOOT_MAPPED_LIMIT || len > BOOT_MAPPED_LIMIT - pa)
    PANIC("multiboot %s at %p is beyond the boot mapping (%p)", what, (void *)pa,
          (void *)BOOT_MAPPED_LIMIT);
  return P2V(pa);
}

static void copy_string(char *dst, size_t size, paddr_t src, const char *what) {
  const char *s = early_ptr(src, 1, what);
  size_t len = strnlen(s, BOOT_MAPPED_LIMIT - src);
  if (len >= size) {
    krecord("BOOTINFO truncated=%s max=%u\n", what, size - 1);
    len = size - 1;
  }
  memcpy(dst, s, len);
  dst[len] = '\0';
}

static void copy_memory_map(const struct multiboot_info *mbi) {
  const uint8_t *p = early_ptr(mbi->mmap_addr, mbi->mmap_length, "memory map");
  const uint8_t *end = p + mbi->mmap_length;
  while (p < end) {
    const struct multiboot_mmap_entry *e = (const void *)p;
    p += e->size + sizeof(e->size);
    uint64_t start = e->addr, stop = e->addr + e->len;
    if (e->len == 0 || start >= FOUR_GIB) continue; /* unreachable without PAE */
    if (stop > FOUR_GIB) stop = FOUR_GIB;
    if (boot_info.region_count == BOOT_MAX_MEMORY_REGIONS) {
      krecord("BOOTINFO truncated=memory-map max=%u\n", BOOT_MAX_MEMORY_REGIONS);
      return;
    }
    struct boot_memory_region *r = &boot_info.regions[boot_info.region_count++];
    r->start = start;
    r->end = stop;
    r->type = e->type;
  }
}

static void copy_modules(const struct multiboot_info *mbi) {
  const struct multiboot_module *m =
      early_ptr(mbi->mods_addr, mbi->mods_count * sizeof(*m), "module list");
  for (uint32_t i = 0; i < mbi->mods_count; i++) {
    if (i == BOOT_MAX_MODULES) {
      krecord("BOOTINFO truncated=modules max=%u\n", BOOT_MAX_MODULES);
      break;
    }
    struct boot_module *out = &boot_info.modules[boot_info.module_count++];
    out->start = m[i].mod_start;
    out->end = m[i].mod_end;
    if (m[i].string) copy_string(out->name, sizeof(out->name), m[i].string, "module name");
  }
}

void bootinfo_init(uint32_t magic, paddr_t mbi_phys) {
  if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
    PANIC("not started by a multiboot loader (eax=%p)", (void *)magic);
  const struct multiboot_info *mbi = early_ptr(mbi_phys, sizeof(*mbi), "information");
  boot_info.flags = mbi->flags;
  if (mbi->flags & MBI_FLAG_MEM) {
    boot_info.mem_lower_kib = mbi->mem_lower;
    boot_info.mem_upper_kib = mbi->mem_upper;
  }
  if (mbi->flags & MBI_FLAG_CMDLINE)
    copy_string(boot_info.cmdline, sizeof(boot_info.cmdline), mbi->cmdline, "cmdline");
  if (mbi->flags & MBI_FLAG_MMAP) copy_memory_map(mbi);
  if (mbi->flags & MBI_FLAG_MODS) copy_modules(mbi);
}
