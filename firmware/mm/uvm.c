/* User address spaces (see include/mm/uvm.h). */
#include "mm/uvm.h"
#include "kernel/cpufeatures.h"
#include "kernel/elf.h"
#include "kernel/errno.h"
#include "kernel/kprintf.h"
#include "kernel/mman.h"
#include "kernel/modules.h"
#include "kernel/proc.h"
#include "lib/string.h"
#include "memlayout.h"
#include "mm/aslr.h"
#include "mm/extable.h"
#include "mm/frame.h"
#include "mm/mmap.h"
#include "mm/pmm.h"
#include "mm/reclaim.h"
#include "mm/swap.h"
#include "mm/vmm.h"

/* Heap and stack pages: writable, so never executable (no PAGE_EXEC: NX). */
#define USER_FLAGS (PAGE_USER | PAGE_WRITE | PAGE_OWNED)

static uint32_t pages_for(uint32_t bytes) { return (bytes + PAGE_SIZE - 1) / PAGE_SIZE; }

/* A zeroed frame mapped at va in mm (user, writable, owned): a user
 * frame, from above 4 GiB when there is RAM there. */
static int map_zeroed(struct mm *mm, vaddr_t va) {
  pfn_t frame = reclaim_user_frame();
  if (!frame) return -ENOMEM;
  void *k = kmap_pfn(frame);
  memset(k, 0, PAGE_SIZE);
  kunmap(k);
  if (vmm_map_pfn(mm->dir, va, frame, USER_FLAGS) != 0) {
    pmm_free_frame(frame);
    return -ENOMEM;
  }
  mm->pages++;
  return 0;
}

/* The first stack page: args, argv[], argc, as crt0.S expects them. */
static int build_stack(struct mm *mm, const char *args, vaddr_t *esp) {
  vaddr_t page = mm->stack_top - PAGE_SIZE;
  int rc = map_zeroed(mm, page);
  if (rc) return rc;
  pfn_t frame;
  vmm_lookup_pfn(mm->dir, page, &frame, NULL);
  uint8_t *k = kmap_pfn(frame);
  uint32_t len = MIN(strlen(args), (size_t)PROC_ARGS_MAX - 1);
  vaddr_t strings = mm->stack_top - ALIGN_UP(len + 1, 4);
  uint8_t *s = k + (strings - page);
  memcpy(s, args, len);
  s[len] = '\0';
  vaddr_t argv[PROC_ARGS_MAX / 2 + 1];
  uint32_t argc = 0;
  for (uint32_t i = 0; i < len; i++) { /* split on spaces, in place */
    if (s[i] == ' ') s[i] = '\0';
    else if (i == 0 || s[i - 1] == '\0') argv[argc++] = strings + i;
  }
  argv[argc] = 0;
  vaddr_t argv_at = strings - (argc + 1) * 4;
  memcpy(k + (argv_at - page), argv, (argc + 1) * 4);
  vaddr_t sp = argv_at - 8;
  uint32_t frame_words[2] = {argc, argv_at};
  memcpy(k + (sp - page), frame_words, sizeof(frame_words));
  kunmap(k);
  *esp = sp;
  return 0;
}

int uvm_create(struct process *p, const struct module *m, const char *args, vaddr_t *entry,
               vaddr_t *esp) {
  struct mm *mm = &p->mm;
  mm->dir = create_page_directory();
  if (!mm->dir) return -ENOMEM;
  mm->cr3 = directory_phys(mm->dir);
  mm->pages = 0;
  int rc = elf_load(mm->dir, m->image, m->size, entry, &mm->image_end, &mm->pages);
  if (rc) return rc;
  struct user_layout layout = aslr_layout();
  mm->heap_base = mm->brk = layout.heap_base;
  mm->shm_base = layout.shm_base;
  mm->stack_top = layout.stack_top;
  mm->stack_limit = mm->stack_top - USER_STACK_MAX;
  mm->mmap_base = layout.mmap_base;
  mm->reserved_pages = pages_for(mm->image_end) + pages_for(USER_STACK_MAX);
  if (mm->reserved_pages > mm->limits.as_pages) return -ENOMEM;
  return build_stack(mm, args, esp);
}

void uvm_destroy(struct process *p) {
  struct mm *mm = &p->mm;
  if (mm->dir) destroy_page_directory(mm->dir);
  mm->dir = NULL;
}

/* A write to a present page: a PAGE_COW entry (fork) gets its own frame.
 * The last holder of the frame takes it back as it is (clear COW, set
 * WRITE); anyone else copies it into a fresh user frame and drops its
 * reference on the shared one.  The kernel's copy_to_user into such a page
 * faults here too (CR0.WP), so a system call never writes a shared frame. */
static enum fault_reason cow_fault(struct mm *mm, vaddr_t page) {
  pfn_t old;
  uint32_t flags;
  /* An mmap region without PROT_WRITE forbids it; the image, heap and stack
   * are writable wherever a COW entry exists. */
  const struct vm_region *region = mmap_region_at(mm, page);
  if (vmm_lookup_pfn(mm->dir, page, &old, &flags) != 0 || !(flags & PAGE_COW) ||
      (region && !(region->prot & PROT_WRITE)))
    return REASON_WRITE_TO_READ_ONLY;
  /* W^X: a writable user page is never executable. */
  uint32_t writable = (flags & (PAGE_USER | PAGE_OWNED | PAGE_PWT | PAGE_PCD)) | PAGE_WRITE;
  if (frame_refs(old) == 1) {
    frame_table[old].flags &= (uint8_t)~FRAME_COW;
    vmm_protect(mm->dir, page, writable);
  } else {
    /* Our own reference on old while reclaim may run the clock: a frame
     * with more holders is never evicted, so old stays mapped and whole. */
    if (frame_ref(old) != 0) return REASON_OUT_OF_MEMORY;
    pfn_t copy = reclaim_user_frame();
    if (!copy) {
      frame_unref(old);
      return REASON_OUT_OF_MEMORY;
    }
    void *from = kmap_pfn(old), *to = kmap_pfn(copy);
    memcpy(to, from, PAGE_SIZE);
    kunmap(to);
    kunmap(from);
    /* Drops the shared frame's reference (the mapping's); a failure is a
     * kernel bug the VMM records: the copy goes back, the page stays COW. */
    int rc = vmm_remap_pfn(mm->dir, page, copy, writable);
    frame_unref(old);
    if (rc != 0) {
      pmm_free_frame(copy);
      return REASON_OUT_OF_MEMORY;
    }
  }
  mm->cow_faults++;
  return REASON_COW;
}

enum fault_reason uvm_fault(struct process *p, const struct page_fault *pf) {
  struct mm *mm = &p->mm;
  vaddr_t page = ALIGN_DOWN(pf->addr, PAGE_SIZE);
  if (pf->reserved) return REASON_RESERVED_BIT;
  if (pf->addr < PAGE_SIZE) return REASON_NULL_POINTER;
  if (pf->addr >= KERNEL_BASE) return REASON_KERNEL_ADDRESS;
  if (pf->present && pf->fetch) return REASON_EXEC_NX; /* data, heap, stack, shm: NX */
  if (pf->present && pf->write) return cow_fault(mm, page);
  if (pf->present) return pf->write ? REASON_WRITE_TO_READ_ONLY : REASON_UNMAPPED;
  enum fault_reason swapped = swap_fault(p, page); /* a swap entry, wherever it lies */
  if (swapped != REASON_COUNT) return swapped;
  enum fault_reason resolved;
  const struct vm_region *region;
  if (pf->addr >= mm->heap_base && pf->addr < mm->brk) resolved = REASON_DEMAND_PAGE;
  else if (pf->addr >= mm->stack_limit && pf->addr < mm->stack_top) resolved = REASON_STACK_GROWTH;
  else if (pf->addr >= mm->stack_limit - PAGE_SIZE && pf->addr < mm->stack_limit)
    return REASON_STACK_OVERFLOW;
  else if ((region = mmap_region_at(mm, pf->addr))) return mmap_fault(p, region, pf);
  else return REASON_UNMAPPED;
  if (mm->pages >= mm->limits.resident_pages) return REASON_LIMIT;
  if (map_zeroed(mm, page) != 0) return REASON_OUT_OF_MEMORY;
  mm->demand_faults++;
  return resolved;
}

int32_t uvm_sbrk(struct process *p, int32_t increment) {
  vaddr_t old = p->mm.brk;
  if (increment == 0) return (int32_t)old;
  if (uvm_brk(p, old + (uint32_t)increment) != 0 ||
      (increment > 0) != (old + (uint32_t)increment > old)) /* wrapped */
    return increment > 0 ? -ENOMEM : -EINVAL;
  return (int32_t)old;
}

int uvm_brk(struct process *p, vaddr_t addr) {
  struct mm *mm = &p->mm;
  if (addr < mm->heap_base) return -EINVAL;
  if (addr - mm->heap_base > USER_HEAP_MAX || addr > mm->shm_base) return -ENOMEM;
  uint32_t old_pages = pages_for(mm->brk - mm->heap_base);
  uint32_t new_pages = pages_for(addr - mm->heap_base);
  if (mm->reserved_pages - old_pages + new_pages > mm->limits.as_pages) return -ENOMEM;
  /* Shrinking: give back the pages above the new break that were touched. */
  for (vaddr_t va = mm->heap_base + new_pages * PAGE_SIZE; va < mm->brk; va += PAGE_SIZE)
    if (vmm_lookup(mm->dir, va, NULL, NULL) == 0) {
      vmm_unmap(mm->dir, va, NULL);
      mm->pages--;
    } else if (vmm_lookup_swap(mm->dir, va, NULL, NULL) == 0) {
      vmm_unmap(mm->dir, va, NULL); /* frees its slot reference */
      mm->swapped_pages--;
    }
  mm->reserved_pages = mm->reserved_pages - old_pages + new_pages;
  mm->brk = addr;
  return 0;
}

int32_t uvm_map_shared(struct process *p, const pfn_t *frames, uint32_t pages) {
  struct mm *mm = &p->mm;
  if (mm->reserved_pages + pages > mm->limits.as_pages ||
      mm->pages + pages > mm->limits.resident_pages)
    return -ENOMEM;
  /* First fit in the attachment area, after the attachments already there. */
  vaddr_t va = mm->shm_base;
  for (bool moved = true; moved;) {
    moved = false;
    for (uint32_t i = 0; i < PROC_SHM_MAX; i++) {
      const struct shm_attachment *a = &mm->shm[i];
      if (a->id >= 0 && va < a->va + a->pages * PAGE_SIZE && a->va < va + pages * PAGE_SIZE) {
        va = a->va + a->pages * PAGE_SIZE;
        moved = true;
      }
    }
  }
  if (va + pages * PAGE_SIZE > mm->shm_base + USER_SHM_SPAN) return -ENOMEM;
  for (uint32_t i = 0; i < pages; i++)
    if (vmm_map_pfn(mm->dir, va + i * PAGE_SIZE, frames[i],
                    PAGE_USER | PAGE_WRITE | PAGE_OWNED /* a reference; NX */) != 0) {
      /* Count the i pages mapped so far, for uvm_unmap_shared to take back:
       * else the counts end up i lower than before the call. */
      mm->pages += i;
      mm->reserved_pages += i;
      uvm_unmap_shared(p, va, i);
      return -ENOMEM;
    }
  mm->pages += pages;
  mm->reserved_pages += pages;
  return (int32_t)va;
}

void uvm_unmap_shared(struct process *p, vaddr_t va, uint32_t pages) {
  struct mm *mm = &p->mm;
  for (uint32_t i = 0; i < pages; i++)
    if (vmm_unmap(mm->dir, va + i * PAGE_SIZE, NULL) == 0) mm->pages--;
  mm->reserved_pages -= pages;
}

/* -- copying across the user/kernel boundary -------------------------------- */

static bool user_range(vaddr_t addr, size_t n) {
  return addr >= USER_BASE && addr <= USER_TOP && n <= USER_TOP - addr;
}

/* rep movsb with a fixup: a fault the kernel cannot resolve (demand paging
 * happens inside the fault handler) ends the copy with -EFAULT.  Whole words
 * (rep movsl) when both ends and the length are 4-aligned: a page-cache
 * read() of a page is one such copy, and a quarter of the iterations. */
static int user_copy(void *dst, const void *src, size_t n) {
  int ret;
  if (IS_ALIGNED((uint32_t)dst | (uint32_t)src | n, 4)) {
    size_t words = n / 4;
    __asm__ volatile(
        "1: rep movsl\n\t"
        "xorl %0, %0\n"
        EXTABLE_EFAULT("%4")
        : "=&a"(ret), "+D"(dst), "+S"(src), "+c"(words)
        : "i"(-EFAULT)
        : "memory");
    return ret;
  }
  __asm__ volatile(
      "1: rep movsb\n\t"
      "xorl %0, %0\n"
      EXTABLE_EFAULT("%4")
      : "=&a"(ret), "+D"(dst), "+S"(src), "+c"(n)
      : "i"(-EFAULT)
      : "memory");
  return ret;
}

int copy_from_user(void *dst, vaddr_t src, size_t n) {
  if (n == 0) return 0;
  if (!user_range(src, n)) return -EFAULT;
  user_access_begin();
  int rc = user_copy(dst, (const void *)src, n);
  user_access_end();
  return rc;
}

int copy_to_user(vaddr_t dst, const void *src, size_t n) {
  if (n == 0) return 0;
  if (!user_range(dst, n)) return -EFAULT;
  user_access_begin();
  int rc = user_copy((void *)dst, src, n);
  user_access_end();
  return rc;
}

int strncpy_from_user(char *dst, vaddr_t src, size_t max) {
  for (size_t i = 0; i < max; i++) {
    if (copy_from_user(&dst[i], src + i, 1) != 0) return -EFAULT;
    if (dst[i] == '\0') return (int)i;
  }
  return -EINVAL;
}
