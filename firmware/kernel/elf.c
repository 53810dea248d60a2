#include "kernel/elf.h"
#include "kernel/errno.h"
#include "kernel/kprintf.h"
#include "lib/string.h"
#include "memlayout.h"
#include "mm/pmm.h"
#include "mm/reclaim.h"

#define EI_NIDENT 16
#define ELFMAG "\177ELF"
#define ELFCLASS32 1
#define ELFDATA2LSB 1
#define ET_EXEC 2
#define EM_386 3
#define PT_LOAD 1
#define PF_X 1
#define PF_W 2

struct elf_header {
  uint8_t ident[EI_NIDENT];
  uint16_t type, machine;
  uint32_t version, entry, phoff, shoff, flags;
  uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
} __attribute__((packed));

struct elf_phdr {
  uint32_t type, offset, vaddr, paddr, filesz, memsz, flags, align;
} __attribute__((packed));

static bool header_ok(const struct elf_header *h, uint32_t size) {
  return size >= sizeof(*h) && memcmp(h->ident, ELFMAG, 4) == 0 &&
         h->ident[4] == ELFCLASS32 && h->ident[5] == ELFDATA2LSB && h->type == ET_EXEC &&
         h->machine == EM_386 && h->phentsize == sizeof(struct elf_phdr) &&
         h->phoff < size && h->phnum <= (size - h->phoff) / sizeof(struct elf_phdr);
}

static bool segment_ok(const struct elf_phdr *ph, uint32_t size) {
  return ph->filesz <= ph->memsz && ph->offset <= size && ph->filesz <= size - ph->offset &&
         ph->vaddr >= USER_BASE && ph->memsz <= USER_HIGH_BASE - ph->vaddr;
}

/* The rights of the page at va: the union of every loadable segment that
 * touches it (two segments may share a page). */
static uint32_t page_rights(const struct elf_phdr *phdrs, uint32_t phnum, vaddr_t va) {
  uint32_t flags = PAGE_USER | PAGE_OWNED;
  for (uint32_t i = 0; i < phnum; i++) {
    const struct elf_phdr *ph = &phdrs[i];
    if (ph->type != PT_LOAD || ph->memsz == 0) continue;
    if (va + PAGE_SIZE <= ph->vaddr || va >= ph->vaddr + ph->memsz) continue;
    if (ph->flags & PF_W) flags |= PAGE_WRITE;
    if (ph->flags & PF_X) flags |= PAGE_EXEC;
  }
  return flags;
}

/* W^X: a writable and executable segment, or a page that a writable and an
 * executable segment share, is refused before anything is mapped.  Only a
 * segment's first and last pages can be shared, so only those are checked. */
static bool write_and_exec(const struct elf_phdr *phdrs, uint32_t phnum) {
  for (uint32_t i = 0; i < phnum; i++) {
    const struct elf_phdr *ph = &phdrs[i];
    if (ph->type != PT_LOAD || ph->memsz == 0) continue;
    vaddr_t ends[2] = {ALIGN_DOWN(ph->vaddr, PAGE_SIZE),
                       ALIGN_DOWN(ph->vaddr + ph->memsz - 1, PAGE_SIZE)};
    for (uint32_t k = 0; k < 2; k++) {
      uint32_t rights = page_rights(phdrs, phnum, ends[k]);
      if ((rights & PAGE_WRITE) && (rights & PAGE_EXEC)) {
        krecord("ELF error=write-and-exec segment=%u va=%p flags=0x%x\n", i,
                (void *)ends[k], ph->flags);
        return true;
      }
    }
  }
  return false;
}

int elf_load(page_directory_t *dir, const uint8_t *image, uint32_t size, vaddr_t *entry,
             vaddr_t *end, uint32_t *pages) {
  const struct elf_header *h = (const void *)image;
  if (!header_ok(h, size)) return -EINVAL;
  const struct elf_phdr *phdrs = (const void *)(image + h->phoff);
  vaddr_t highest = USER_BASE;
  for (uint32_t i = 0; i < h->phnum; i++)
    if (phdrs[i].type == PT_LOAD && !segment_ok(&phdrs[i], size)) return -EINVAL;
  if (write_and_exec(phdrs, h->phnum)) return -EINVAL;
  for (uint32_t i = 0; i < h->phnum; i++) {
    const struct elf_phdr *ph = &phdrs[i];
    if (ph->type != PT_LOAD || ph->memsz == 0) continue;
    for (vaddr_t va = ALIGN_DOWN(ph->vaddr, PAGE_SIZE); va < ph->vaddr + ph->memsz;
         va += PAGE_SIZE) {
      pfn_t frame;
      /* A page an earlier segment mapped already has the rights of both. */
      if (vmm_lookup_pfn(dir, va, &frame, NULL) != 0) {
        frame = reclaim_user_frame(); /* from above 4 GiB when there is RAM there */
        if (!frame) return -ENOMEM;
        uint8_t *zero = kmap_pfn(frame);
        memset(zero, 0, PAGE_SIZE);
        kunmap(zero);
        if (vmm_map_pfn(dir, va, frame, page_rights(phdrs, h->phnum, va)) != 0) {
          pmm_free_frame(frame);
          return -ENOMEM;
        }
        (*pages)++;
      }
      /* The part of the file that lands in this page. */
      vaddr_t from = MAX(va, ph->vaddr), to = MIN(va + PAGE_SIZE, ph->vaddr + ph->filesz);
      if (from < to) {
        uint8_t *dst = kmap_pfn(frame);
        memcpy(dst + (from - va), image + ph->offset + (from - ph->vaddr), to - from);
        kunmap(dst);
      }
    }
    highest = MAX(highest, ALIGN_UP(ph->vaddr + ph->memsz, PAGE_SIZE));
  }
  *entry = h->entry;
  *end = highest;
  return h->entry >= USER_BASE && h->entry < highest ? 0 : -EINVAL;
}
