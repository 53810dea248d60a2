#include "kernel/bootinfo.h"
#include "arch/i386/multiboot.h"
#include "kernel/kprintf.h"
#include "kernel/panic.h"
#include "lib/string.h"
#include "memlayout.h"
#include "mm/pmm.h"

struct boot_info boot_info;

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
    if (e->len == 0) continue; /* RAM above 4 GiB stays: the PMM decides (PAE reaches it) */
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

/* A NUL-terminated string of the loader's, and its length. */
static const char *early_string(paddr_t pa, size_t *len, const char *what) {
  const char *s = early_ptr(pa, 1, what);
  *len = strnlen(s, BOOT_MAPPED_LIMIT - pa);
  if (*len == BOOT_MAPPED_LIMIT - pa) PANIC("multiboot %s at %p is not terminated", what, (void *)pa);
  return s;
}

/* The arena starts past everything the copy reads or must not disturb. */
static paddr_t arena_base(const struct multiboot_module *m, uint32_t count, paddr_t list) {
  paddr_t base = MAX(V2P(__kernel_end), list + count * (uint32_t)sizeof(*m));
  size_t len;
  for (uint32_t i = 0; i < count; i++) {
    base = MAX(base, m[i].mod_end);
    if (m[i].string) {
      early_string(m[i].string, &len, "module command line");
      base = MAX(base, m[i].string + (paddr_t)len + 1);
    }
  }
  return ALIGN_UP(base, FRAME_SIZE);
}

static bool is_available(paddr_t start, paddr_t end) {
  for (uint32_t i = 0; i < boot_info.region_count; i++) {
    const struct boot_memory_region *r = &boot_info.regions[i];
    if (r->type == MULTIBOOT_MEMORY_AVAILABLE && r->start <= start && end <= r->end)
      return true;
  }
  return false;
}

static void copy_modules(const struct multiboot_info *mbi) {
  uint32_t count = mbi->mods_count;
  if (count == 0) return;
  const struct multiboot_module *m =
      early_ptr(mbi->mods_addr, count * sizeof(*m), "module list");
  size_t bytes = count * sizeof(struct boot_module), len;
  for (uint32_t i = 0; i < count; i++) {
    if (m[i].string) early_string(m[i].string, &len, "module command line");
    bytes += m[i].string ? len + 1 : 1;
  }
  paddr_t start = arena_base(m, count, mbi->mods_addr);
  paddr_t end = ALIGN_UP(start + (paddr_t)bytes, FRAME_SIZE);
  if (end > BOOT_MAPPED_LIMIT || end < start || !is_available(start, end))
    PANIC("no room for the table of %u modules (%u bytes at %p, below %u MiB): modules too "
          "large?", count, (uint32_t)bytes, (void *)start, BOOT_MAPPED_LIMIT >> 20);

  struct boot_module *table = P2V(start);
  char *strings = (char *)(table + count);
  for (uint32_t i = 0; i < count; i++) {
    table[i].start = m[i].mod_start;
    table[i].end = m[i].mod_end;
    table[i].cmdline = strings;
    const char *s = m[i].string ? early_string(m[i].string, &len, "module command line") : "";
    if (!m[i].string) len = 0;
    memcpy(strings, s, len);
    strings[len] = '\0';
    strings += len + 1;
  }
  boot_info.modules = table;
  boot_info.module_count = count;
  boot_info.arena_start = start;
  boot_info.arena_end = end;
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

bool boot_map_covers(uint64_t start, uint64_t end) {
  /* Each step moves `start` to the end of a region holding it: at most one
   * step per region, however they are ordered. */
  for (uint32_t steps = 0; start < end && steps < boot_info.region_count; steps++) {
    bool moved = false;
    for (uint32_t i = 0; i < boot_info.region_count; i++) {
      const struct boot_memory_region *r = &boot_info.regions[i];
      if (r->start <= start && start < r->end) {
        start = r->end;
        moved = true;
        break;
      }
    }
    if (!moved) return false; /* a hole */
  }
  return start >= end;
}
