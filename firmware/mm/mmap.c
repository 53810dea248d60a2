/* mmap, munmap, mprotect, the region list and the resource limits (see
 * include/mm/mmap.h for the rules).
 *
 * Every call works in the same order: check the arguments, compute the new
 * region list into a scratch array and check it against the limits, and
 * only then touch page tables and the process: a refused call changes
 * nothing. */
#include "mm/mmap.h"
#include "fs/fs.h"
#include "fs/pagecache.h"
#include "kernel/errno.h"
#include "kernel/kprintf.h"
#include "kernel/mman.h"
#include "kernel/proc.h"
#include "lib/string.h"
#include "memlayout.h"
#include "mm/frame.h"
#include "mm/heap.h"
#include "mm/pmm.h"
#include "mm/reclaim.h"
#include "mm/swap.h"
#include "mm/uvm.h"
#include "mm/vmm.h"

#define PROT_ALL (PROT_READ | PROT_WRITE | PROT_EXEC)
#define MAP_KNOWN (MAP_SHARED | MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE)
#define MAP_KIND (MAP_SHARED | MAP_PRIVATE)
/* A rebuilt list: every old region, of which one may be split in three, and
 * the new one. */
#define SCRATCH_REGIONS (PROC_REGIONS_MAX + 2)

/* One call's arguments, for its refusal record. */
struct call {
  const char *op;
  vaddr_t addr;
  uint32_t len, prot, flags;
};

static int32_t refuse(int32_t err, const char *kind, const struct call *c) {
  krecord("MMAP error=%s op=%s addr=%p len=0x%x prot=0x%x flags=0x%x\n", kind, c->op,
          (void *)c->addr, c->len, c->prot, c->flags);
  return err;
}

static bool overlaps(vaddr_t s, vaddr_t e, vaddr_t as, vaddr_t ae) { return s < ae && as < e; }

/* The part [s, e) of region r with rights prot (a file mapping's page offset
 * moves with its start). */
static struct vm_region piece(const struct vm_region *r, vaddr_t s, vaddr_t e, uint32_t prot) {
  struct vm_region out = *r;
  out.start = s;
  out.end = e;
  out.prot = prot;
  if (r->file) out.pgoff += (s - r->start) / PAGE_SIZE;
  return out;
}

/* Whether b, starting where a ends, can be one region with a: the same kind,
 * and for a file the same file with the pages following on. */
static bool mergeable(const struct vm_region *a, const struct vm_region *b) {
  return a->end == b->start && a->prot == b->prot && a->flags == b->flags &&
         a->file == b->file && (!a->file || b->pgoff == a->pgoff + (a->end - a->start) / PAGE_SIZE);
}

/* The PTE flags of a page in a region with `prot` (a PROT_NONE region's
 * pages are PAGE_PROTNONE entries instead, made by vmm_protnone). */
static uint32_t page_flags(uint32_t prot) {
  uint32_t f = PAGE_USER | PAGE_OWNED;
  if (prot & PROT_WRITE) f |= PAGE_WRITE;
  if (prot & PROT_EXEC) f |= PAGE_EXEC;
  return f;
}

/* Which of mm's own areas [s, e) overlaps, as a refusal kind, or NULL.  The
 * stack area includes its guard page. */
static const char *fixed_area(const struct mm *mm, vaddr_t s, vaddr_t e) {
  if (s < ALIGN_UP(mm->image_end, PAGE_SIZE)) return "overlaps-image";
  if (overlaps(s, e, mm->heap_base, mm->heap_base + USER_HEAP_MAX)) return "overlaps-heap";
  if (overlaps(s, e, mm->shm_base, mm->shm_base + USER_SHM_SPAN)) return "overlaps-shm";
  if (overlaps(s, e, mm->stack_limit - PAGE_SIZE, mm->stack_top)) return "overlaps-stack";
  return NULL;
}

/* Bytes of [s, e) that mm's regions cover. */
static uint32_t covered(const struct mm *mm, vaddr_t s, vaddr_t e) {
  uint32_t bytes = 0;
  for (uint32_t i = 0; i < mm->region_count; i++) {
    const struct vm_region *r = &mm->regions[i];
    if (overlaps(s, e, r->start, r->end)) bytes += MIN(e, r->end) - MAX(s, r->start);
  }
  return bytes;
}

/* Checks addr and len as a user range; *end gets its page-rounded end. */
static int32_t check_range(const struct call *c, vaddr_t *end) {
  if (!IS_ALIGNED(c->addr, PAGE_SIZE)) return refuse(-EINVAL, "unaligned", c);
  if (c->len == 0 || c->len > USER_TOP - USER_BASE) return refuse(-EINVAL, "bad-length", c);
  uint32_t size = ALIGN_UP(c->len, PAGE_SIZE);
  if (c->addr < USER_BASE) return refuse(-EINVAL, "null-page", c);
  if (c->addr >= USER_TOP || size > USER_TOP - c->addr) return refuse(-EINVAL, "kernel-half", c);
  *end = c->addr + size;
  return 0;
}

/* mm's region list with [s, e) cut out (prot < 0) or given `prot`, then `add`
 * (if not NULL) inserted, merged, into out.  Returns the count. */
static uint32_t rebuild(const struct mm *mm, vaddr_t s, vaddr_t e, int32_t prot,
                        const struct vm_region *add, struct vm_region *out) {
  struct vm_region pieces[SCRATCH_REGIONS];
  uint32_t n = 0;
  for (uint32_t i = 0; i < mm->region_count; i++) {
    struct vm_region r = mm->regions[i];
    if (add && r.start >= e) { /* the cut left [s, e) empty: add goes here */
      pieces[n++] = *add;
      add = NULL;
    }
    if (!overlaps(s, e, r.start, r.end)) {
      pieces[n++] = r;
      continue;
    }
    if (r.start < s) pieces[n++] = piece(&r, r.start, s, r.prot);
    if (prot >= 0) pieces[n++] = piece(&r, MAX(r.start, s), MIN(r.end, e), (uint32_t)prot);
    if (r.end > e) pieces[n++] = piece(&r, e, r.end, r.prot);
  }
  if (add) pieces[n++] = *add;
  uint32_t count = 0;
  for (uint32_t i = 0; i < n; i++) {
    struct vm_region *last = count ? &out[count - 1] : NULL;
    if (last && mergeable(last, &pieces[i]))
      last->end = pieces[i].end;
    else
      out[count++] = pieces[i];
  }
  return count;
}

/* Whether a list of `count` regions may replace mm's. */
static bool count_allowed(const struct mm *mm, uint32_t count) {
  if (count > PROC_REGIONS_MAX) return false;
  return count <= mm->limits.mappings || count <= mm->region_count; /* never refuse shrinking */
}

/* Entries from region_count on mean nothing (they are not cleared: that
 * would cost more than the rest of a small mmap). */
static void commit(struct mm *mm, const struct vm_region *list, uint32_t count) {
  memcpy(mm->regions, list, count * sizeof(*list));
  mm->region_count = count;
}

/* In-place edits for the common calls (a new region where there was none,
 * a munmap within one region): they cost a fraction of rebuild + commit. */

/* The index of the first region ending above va (region_count if none). */
static uint32_t index_after(const struct mm *mm, vaddr_t va) {
  uint32_t i = 0;
  while (i < mm->region_count && mm->regions[i].end <= va) i++;
  return i;
}

static void open_slot(struct mm *mm, uint32_t i) {
  memmove(&mm->regions[i + 1], &mm->regions[i], (mm->region_count - i) * sizeof(mm->regions[0]));
  mm->region_count++;
}

static void close_slot(struct mm *mm, uint32_t i) {
  memmove(&mm->regions[i], &mm->regions[i + 1],
          (mm->region_count - i - 1) * sizeof(mm->regions[0]));
  mm->region_count--;
}

/* How the free range of `add` at index i (index_after(add->start)) joins its
 * neighbours: bit 0 the one before, bit 1 the one after. */
static uint32_t joins(const struct mm *mm, uint32_t i, const struct vm_region *add) {
  uint32_t j = 0;
  if (i > 0 && mergeable(&mm->regions[i - 1], add)) j |= 1;
  if (i < mm->region_count && mergeable(add, &mm->regions[i])) j |= 2;
  return j;
}

static void insert_region(struct mm *mm, uint32_t i, const struct vm_region *add,
                          uint32_t j) {
  if (j == 3) {
    mm->regions[i - 1].end = mm->regions[i].end;
    close_slot(mm, i);
  } else if (j == 1) {
    mm->regions[i - 1].end = add->end;
  } else if (j == 2) {
    mm->regions[i].start = add->start;
    mm->regions[i].pgoff = add->pgoff;
  } else {
    open_slot(mm, i);
    mm->regions[i] = *add;
  }
}

/* The page table covering va, as get_page_table counts them, and the bytes
 * one covers. */
static uint32_t table_index(vaddr_t va) {
  return va >> (vmm_mode == VMM_PAE ? PAE_PD_SHIFT : PDX_SHIFT);
}

static vaddr_t table_span(void) {
  return vmm_mode == VMM_PAE ? 1u << PAE_PD_SHIFT : 1u << PDX_SHIFT;
}

/* Whether va's page table may exist in mm's directory.  Exact for the current
 * directory (system calls run in the caller's), else always true. */
static bool table_may_exist(const struct mm *mm, vaddr_t va) {
  if (mm->dir != current_directory) return true;
  return get_page_table(table_index(va), false) != NULL;
}

/* Unmaps every page mapped in [s, e), PAGE_PROTNONE ones included, skipping
 * page tables that do not exist (a mapping never touched costs one check per
 * table, not per page). */
static void drop_pages(struct mm *mm, vaddr_t s, vaddr_t e) {
  for (vaddr_t va = s; va < e;) {
    if (!table_may_exist(mm, va)) {
      va = ALIGN_DOWN(va, table_span()) + table_span();
      continue;
    }
    /* The frame's reference goes (freed at zero), or the slot's. */
    int dropped = vmm_drop_user(mm->dir, va);
    if (dropped == VMM_DROPPED_PAGE) mm->pages--;
    else if (dropped == VMM_DROPPED_SLOT) mm->swapped_pages--;
    va += PAGE_SIZE;
  }
}

/* A zeroed user frame (not yet mapped), or 0. */
static pfn_t zeroed_frame(void) {
  pfn_t frame = reclaim_user_frame();
  if (!frame) return 0;
  void *k = kmap_pfn(frame);
  memset(k, 0, PAGE_SIZE);
  kunmap(k);
  return frame;
}

/* A small shared mapping's frame numbers live on the stack; a larger one's in
 * the kernel heap. */
#define SMALL_SHARED 32

/* The frames of a shared mapping, all allocated before anything changes, and
 * page tables for the whole range: mapping them then cannot fail.  `small`
 * holds SMALL_SHARED frame numbers. */
static pfn_t *shared_frames(struct mm *mm, vaddr_t start, uint32_t pages, pfn_t *small) {
  pfn_t *frames = pages <= SMALL_SHARED ? small : kcalloc(pages, sizeof(pfn_t));
  if (!frames) return NULL;
  for (uint32_t i = 0; i < pages; i++)
    if (!(frames[i] = zeroed_frame())) {
      while (i--) pmm_free_frame(frames[i]); /* no references yet */
      if (frames != small) kfree(frames);
      return NULL;
    }
  vaddr_t end = start + pages * PAGE_SIZE;
  bool tables = true;
  if (mm->dir == current_directory) /* end <= USER_TOP: no wrap */
    for (vaddr_t va = ALIGN_DOWN(start, table_span()); va < end && tables; va += table_span())
      tables = get_page_table(table_index(va), true) != NULL;
  if (!tables) {
    for (uint32_t i = 0; i < pages; i++) pmm_free_frame(frames[i]);
    if (frames != small) kfree(frames);
    return NULL;
  }
  return frames;
}

/* The first free range of `size` bytes in [from, to), or 0.  The mmap area
 * holds nothing but regions: the heap, shm and stack areas lie above it (see
 * mm/aslr.h) and the image below (it fits in the as_pages limit, at most
 * PROC_MAX_PAGES from USER_BASE). */
_Static_assert(USER_HEAP_BASE >= MMAP_AREA_END && USER_BASE + PROC_MAX_PAGES * PAGE_SIZE <=
               MMAP_AREA_BASE, "the mmap area is for regions only");
static vaddr_t first_fit(const struct mm *mm, vaddr_t from, vaddr_t to, uint32_t size) {
  vaddr_t at = from;
  for (uint32_t i = 0; i < mm->region_count; i++) {
    const struct vm_region *r = &mm->regions[i];
    if (r->end <= at) continue;
    if (r->start >= at && r->start - at >= size) break;
    at = r->end;
  }
  return at < to && to - at >= size ? at : 0;
}

void mmap_init_process(struct process *p) {
  struct mm *mm = &p->mm;
  mm->region_count = 0;
  mm->limits = (struct proc_limits){.as_pages = PROC_MAX_PAGES,
                                   .resident_pages = PROC_MAX_PAGES,
                                   .mappings = PROC_REGIONS_MAX};
}

/* mmap of an anonymous region (file NULL) or of a file from byte `offset`. */
static int32_t map_region(struct mm *mm, vaddr_t addr, uint32_t len, uint32_t prot,
                          uint32_t flags, const struct fs_file *file, uint32_t offset) {
  const struct call c = {"mmap", addr, len, prot, flags};
  if ((prot & PROT_WRITE) && (prot & PROT_EXEC)) return refuse(-EACCES, "write-and-exec", &c);
  if (prot & ~PROT_ALL) return refuse(-EINVAL, "bad-prot", &c);
  uint32_t kind = flags & MAP_KIND;
  if ((flags & ~MAP_KNOWN) || (kind != MAP_SHARED && kind != MAP_PRIVATE))
    return refuse(-EINVAL, "bad-flags", &c);
  if (!file && !(flags & MAP_ANONYMOUS)) return refuse(-EINVAL, "not-anonymous", &c);
  if (file && (flags & MAP_ANONYMOUS)) return refuse(-EINVAL, "anonymous-file", &c);
  if (file && !IS_ALIGNED(offset, PAGE_SIZE)) return refuse(-EINVAL, "unaligned-offset", &c);
  /* The file system is read-only: a shared mapping could never write back. */
  if (file && kind == MAP_SHARED && (prot & PROT_WRITE))
    return refuse(-EACCES, "read-only-file", &c);
  if (kind == MAP_SHARED && prot == PROT_NONE) return refuse(-EINVAL, "shared-none", &c);
  bool fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE);
  vaddr_t start, end;
  if (fixed || addr) { /* addr 0 without MAP_FIXED: no hint */
    int32_t rc = check_range(&c, &end);
    if (rc) return rc;
  } else if (len == 0 || len > USER_TOP - USER_BASE) {
    return refuse(-EINVAL, "bad-length", &c);
  }
  uint32_t size = ALIGN_UP(len, PAGE_SIZE), pages = size / PAGE_SIZE;
  if (fixed) {
    const char *area = fixed_area(mm, addr, end);
    if (area) return refuse(-EEXIST, area, &c);
    if ((flags & MAP_FIXED_NOREPLACE) && covered(mm, addr, end))
      return refuse(-EEXIST, "exists", &c);
    start = addr;
  } else if (addr && !fixed_area(mm, addr, end) && !covered(mm, addr, end)) {
    start = addr; /* the hint is free */
  } else {
    start = first_fit(mm, mm->mmap_base, MMAP_AREA_END, size);
    if (!start) start = first_fit(mm, MMAP_AREA_BASE, mm->mmap_base, size);
    if (!start) return refuse(-ENOMEM, "no-room", &c);
  }
  end = start + size;

  struct vm_region list[SCRATCH_REGIONS];
  const struct vm_region add = {start, end, prot, kind, file, file ? offset / PAGE_SIZE : 0};
  uint32_t replaced = fixed ? covered(mm, start, end) / PAGE_SIZE : 0; /* else a free range */
  uint32_t count, at = 0, join = 0;
  if (replaced) {
    count = rebuild(mm, start, end, -1, &add, list);
  } else {
    at = index_after(mm, start);
    join = joins(mm, at, &add);
    count = mm->region_count + 1 - (join & 1) - (join >> 1);
  }
  if (!count_allowed(mm, count)) return refuse(-ENOMEM, "mappings-limit", &c);
  if (mm->reserved_pages - replaced + pages > mm->limits.as_pages)
    return refuse(-ENOMEM, "as-limit", &c);
  pfn_t *frames = NULL, small[SMALL_SHARED];
  if (kind == MAP_SHARED && !file) { /* a file's pages come on demand, from the page cache */
    if (mm->pages + pages > mm->limits.resident_pages) return refuse(-ENOMEM, "resident-limit", &c);
    if (!(frames = shared_frames(mm, start, pages, small)))
      return refuse(-ENOMEM, "no-memory", &c);
  }

  if (replaced) drop_pages(mm, start, end);
  if (frames) {
    for (uint32_t i = 0; i < pages; i++)
      vmm_map_pfn(mm->dir, start + i * PAGE_SIZE, frames[i], page_flags(prot)); /* tables exist */
    mm->pages += pages;
    if (frames != small) kfree(frames);
  }
  if (replaced) commit(mm, list, count);
  else insert_region(mm, at, &add, join);
  mm->reserved_pages = mm->reserved_pages - replaced + pages;
  return (int32_t)start;
}

int32_t mmap_map(struct process *p, vaddr_t addr, uint32_t len, uint32_t prot, uint32_t flags) {
  return map_region(&p->mm, addr, len, prot, flags, NULL, 0);
}

int32_t mmap_map_file(struct process *p, vaddr_t addr, uint32_t len, uint32_t prot,
                      uint32_t flags, const struct fs_file *file, uint32_t offset) {
  return map_region(&p->mm, addr, len, prot, flags, file, offset);
}

/* The checks munmap and mprotect share: a range of user pages outside the
 * image, heap, shm and stack areas. */
static int32_t check_own_range(const struct mm *mm, const struct call *c, vaddr_t *end) {
  int32_t rc = check_range(c, end);
  if (rc) return rc;
  const char *area = fixed_area(mm, c->addr, *end);
  return area ? refuse(-EINVAL, area, c) : 0;
}

/* munmap of [s, e) inside region i (so outside every fixed area). */
static int32_t unmap_within(struct mm *mm, uint32_t i, vaddr_t s, vaddr_t e,
                            const struct call *c) {
  struct vm_region *r = &mm->regions[i];
  bool head = r->start < s, tail = e < r->end;
  if (head && tail) { /* split in two */
    if (!count_allowed(mm, mm->region_count + 1)) return refuse(-ENOMEM, "mappings-limit", c);
    open_slot(mm, i);
    mm->regions[i].end = s;
    mm->regions[i + 1] = piece(&mm->regions[i + 1], e, mm->regions[i + 1].end,
                              mm->regions[i + 1].prot);
  } else if (head) {
    r->end = s;
  } else if (tail) {
    *r = piece(r, e, r->end, r->prot);
  } else {
    close_slot(mm, i);
  }
  drop_pages(mm, s, e);
  mm->reserved_pages -= (e - s) / PAGE_SIZE;
  return 0;
}

int32_t mmap_unmap(struct process *p, vaddr_t addr, uint32_t len) {
  struct mm *mm = &p->mm;
  const struct call c = {"munmap", addr, len, 0, 0};
  vaddr_t end;
  int32_t rc = check_range(&c, &end);
  if (rc) return rc;
  uint32_t i = index_after(mm, addr);
  if (i < mm->region_count && mm->regions[i].start <= addr && end <= mm->regions[i].end)
    return unmap_within(mm, i, addr, end, &c);
  const char *area = fixed_area(mm, addr, end);
  if (area) return refuse(-EINVAL, area, &c);
  uint32_t dropped = covered(mm, addr, end) / PAGE_SIZE;
  if (!dropped) return 0; /* nothing mapped there, as in Linux */
  struct vm_region list[SCRATCH_REGIONS];
  uint32_t count = rebuild(mm, addr, end, -1, NULL, list);
  if (!count_allowed(mm, count)) return refuse(-ENOMEM, "mappings-limit", &c);
  drop_pages(mm, addr, end);
  commit(mm, list, count);
  mm->reserved_pages -= dropped;
  return 0;
}

/* New rights for the mapped pages of [s, e), all in one region with `flags`.
 * PROT_NONE keeps each page's frame in a PAGE_PROTNONE entry (not present:
 * every access faults); other rights make present and protnone pages
 * present with them.  The pages stay resident either way (mm->pages). */
static void reprotect_pages(struct mm *mm, vaddr_t s, vaddr_t e, uint32_t prot,
                            uint32_t flags) {
  for (vaddr_t va = s; va < e;) {
    if (!table_may_exist(mm, va)) {
      va = ALIGN_DOWN(va, table_span()) + table_span();
      continue;
    }
    pfn_t pfn;
    uint32_t slot;
    if (vmm_lookup_swap(mm->dir, va, &slot, NULL) == 0) {
      /* A swapped page gets its rights in the entry; PROT_NONE leaves them
       * (the region's PROT_NONE refuses the fault).  A write right on a
       * slot someone else names waits for the copy. */
      uint32_t f = page_flags(prot);
      if ((f & PAGE_WRITE) && (flags & MAP_PRIVATE) && swap_map[slot] > 1)
        f = (f & ~PAGE_WRITE) | PAGE_COW;
      if (prot != PROT_NONE) vmm_swap_protect(mm->dir, va, f);
    } else if (prot == PROT_NONE) {
      if (vmm_lookup_pfn(mm->dir, va, NULL, NULL) == 0) vmm_protnone(mm->dir, va);
    } else if (vmm_lookup_kept(mm->dir, va, &pfn, NULL) == 0) {
      uint32_t f = page_flags(prot);
      /* A private frame someone else still maps (after fork) is not ours to
       * write: the first write copies it. */
      uint32_t refs = frame_refs(pfn);
      if ((f & PAGE_WRITE) && (flags & MAP_PRIVATE) && refs > 1) {
        f = (f & ~PAGE_WRITE) | PAGE_COW;
        frame_table[pfn].flags |= FRAME_COW;
      } else if (refs == 1) {
        frame_table[pfn].flags &= ~FRAME_COW; /* no PTE maps it COW any more */
      }
      vmm_protect(mm->dir, va, f);
    }
    va += PAGE_SIZE;
  }
}

int32_t mmap_protect(struct process *p, vaddr_t addr, uint32_t len, uint32_t prot) {
  struct mm *mm = &p->mm;
  const struct call c = {"mprotect", addr, len, prot, 0};
  if ((prot & PROT_WRITE) && (prot & PROT_EXEC)) return refuse(-EACCES, "write-and-exec", &c);
  if (prot & ~PROT_ALL) return refuse(-EINVAL, "bad-prot", &c);
  vaddr_t end;
  int32_t rc = check_own_range(mm, &c, &end);
  if (rc) return rc;
  if (covered(mm, addr, end) != end - addr) return refuse(-ENOMEM, "not-mapped", &c);
  for (uint32_t i = 0; i < mm->region_count; i++) {
    const struct vm_region *r = &mm->regions[i];
    if (!overlaps(addr, end, r->start, r->end) || !(r->flags & MAP_SHARED)) continue;
    if (prot == PROT_NONE) return refuse(-EINVAL, "shared-none", &c);
    if (r->file && (prot & PROT_WRITE)) return refuse(-EACCES, "read-only-file", &c);
  }
  struct vm_region list[SCRATCH_REGIONS];
  uint32_t count = rebuild(mm, addr, end, (int32_t)prot, NULL, list);
  if (!count_allowed(mm, count)) return refuse(-ENOMEM, "mappings-limit", &c);
  for (uint32_t i = 0; i < mm->region_count; i++) {
    const struct vm_region *r = &mm->regions[i];
    if (overlaps(addr, end, r->start, r->end))
      reprotect_pages(mm, MAX(addr, r->start), MIN(end, r->end), prot, r->flags);
  }
  commit(mm, list, count);
  return 0;
}

static uint32_t *limit_of(struct mm *mm, uint32_t resource) {
  switch (resource) {
  case RLIMIT_AS_PAGES: return &mm->limits.as_pages;
  case RLIMIT_RESIDENT_PAGES: return &mm->limits.resident_pages;
  case RLIMIT_MAPPINGS: return &mm->limits.mappings;
  default: return NULL;
  }
}

int32_t mmap_getrlimit(struct process *p, uint32_t resource) {
  const struct call c = {"getrlimit", resource, 0, 0, 0};
  uint32_t *limit = limit_of(&p->mm, resource);
  return limit ? (int32_t)*limit : refuse(-EINVAL, "bad-resource", &c);
}

int32_t mmap_setrlimit(struct process *p, uint32_t resource, uint32_t value) {
  const struct call c = {"setrlimit", resource, value, 0, 0};
  uint32_t *limit = limit_of(&p->mm, resource);
  if (!limit) return refuse(-EINVAL, "bad-resource", &c);
  if (value > *limit) return refuse(-EPERM, "raise", &c);
  *limit = value;
  return 0;
}

const struct vm_region *mmap_region_at(const struct mm *mm, vaddr_t va) {
  for (uint32_t i = 0; i < mm->region_count; i++) {
    const struct vm_region *r = &mm->regions[i];
    if (va < r->start) return NULL; /* sorted */
    if (va < r->end) return r;
  }
  return NULL;
}

/* A file mapping's page: the page cache's frame, shared read-only (its
 * rights less PAGE_WRITE) or private copy-on-write (read-only + PAGE_COW
 * when writable: a write copies it in cow_fault).  A page wholly past the
 * end of the file is REASON_FILE_IO, as is a read error; the tail of the
 * last page reads as zeros. */
static enum fault_reason file_fault(struct mm *mm, const struct vm_region *r, vaddr_t page) {
  uint32_t index = r->pgoff + (page - r->start) / PAGE_SIZE;
  if (index >= (r->file->size + PAGE_SIZE - 1) / PAGE_SIZE) return REASON_FILE_IO;
  int err;
  pfn_t pfn = pagecache_get(r->file, index, &err);
  if (!pfn) return err == -ENOMEM ? REASON_OUT_OF_MEMORY : REASON_FILE_IO;
  uint32_t flags = page_flags(r->prot) & ~PAGE_WRITE;
  if ((r->flags & MAP_PRIVATE) && (r->prot & PROT_WRITE)) {
    flags |= PAGE_COW;
    frame_table[pfn].flags |= FRAME_COW;
  }
  /* Held while it is mapped: a page table the mapping needs may be had by
   * reclaiming, which could otherwise give this page back first. */
  frame_ref(pfn);
  int rc = vmm_map_pfn(mm->dir, page, pfn, flags);
  frame_unref(pfn);
  if (rc != 0) return REASON_OUT_OF_MEMORY;
  mm->pages++;
  return REASON_FILE_PAGE;
}

enum fault_reason mmap_fault(struct process *p, const struct vm_region *r,
                             const struct page_fault *pf) {
  struct mm *mm = &p->mm;
  if (r->prot == PROT_NONE) return REASON_GUARD;
  if (pf->write && !(r->prot & PROT_WRITE)) return REASON_WRITE_TO_READ_ONLY;
  if (mm->pages >= mm->limits.resident_pages) return REASON_LIMIT;
  if (r->file) return file_fault(mm, r, ALIGN_DOWN(pf->addr, PAGE_SIZE));
  pfn_t frame = zeroed_frame();
  if (!frame) return REASON_OUT_OF_MEMORY;
  if (vmm_map_pfn(mm->dir, ALIGN_DOWN(pf->addr, PAGE_SIZE), frame, page_flags(r->prot)) != 0) {
    pmm_free_frame(frame); /* not mapped: no reference was taken */
    return REASON_OUT_OF_MEMORY;
  }
  mm->pages++;
  mm->demand_faults++;
  return REASON_DEMAND_PAGE;
}
