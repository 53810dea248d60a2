/* Swap slots, the swap cache, the clock and swap-in (see include/mm/swap.h). */
#include "mm/swap.h"
#include "dev/blk.h"
#include "kernel/cmdline.h"
#include "kernel/errno.h"
#include "kernel/kprintf.h"
#include "kernel/mman.h"
#include "kernel/proc.h"
#include "lib/string.h"
#include "memlayout.h"
#include "mm/frame.h"
#include "mm/heap.h"
#include "mm/mmap.h"
#include "mm/pmm.h"
#include "mm/reclaim.h"
#include "mm/vmm.h"
#include "mm/zswap.h"

#define NO_DISK 0xFFFFFFFFu

struct swap_stats swap_stats;
uint8_t *swap_map;
pfn_t *swap_cache;
uint32_t swap_disk_index = NO_DISK;

static struct blk_device *disk;
static uint32_t lowest_free = 1; /* no free slot below it */
static uint32_t slots_used_end = 1; /* no slot at or above it was ever taken */

/* -- slots ------------------------------------------------------------------ */

/* The slot map and the swap cache come from the heap: at boot with a swap
 * disk (a big disk's map would not fit in the reserve reclaim keeps), at
 * the first swap-out in pool-only mode (a machine without a swap disk that
 * never swaps keeps its heap and frames as boot left them; 80 KiB come from
 * the reserve when it does).  False when the heap cannot give them. */
static bool maps_ready(void) {
  if (swap_map) return true;
  uint8_t *map = kcalloc(swap_stats.slots, sizeof(*swap_map));
  pfn_t *cache = kcalloc(swap_stats.slots, sizeof(*swap_cache));
  if (!map || !cache) {
    kfree(map);
    kfree(cache);
    return false;
  }
  swap_cache = cache;
  swap_map = map;
  return true;
}

/* The lowest free slot, taken with one reference, or 0 when none is free. */
static uint32_t slot_alloc(void) {
  if (!maps_ready()) return 0;
  for (uint32_t s = lowest_free; s < swap_stats.slots; s++)
    if (swap_map[s] == 0) {
      swap_map[s] = 1;
      swap_stats.in_use++;
      lowest_free = s + 1;
      if (s >= slots_used_end) slots_used_end = s + 1;
      return s;
    }
  lowest_free = swap_stats.slots;
  return 0;
}

static void slot_free(uint32_t s) {
  swap_map[s] = 0;
  swap_stats.in_use--;
  if (s < lowest_free) lowest_free = s;
  zswap_invalidate(s);
}

static bool valid_slot(uint32_t s) {
  return swap_map && s > 0 && s < swap_stats.slots && swap_map[s] != 0 &&
         swap_map[s] != SWAP_RETIRED;
}

void swap_dup(uint32_t s) {
  if (valid_slot(s)) swap_map[s]++; /* PROC_MAX PTEs + the cache: far below SWAP_RETIRED */
}

/* The swap cache lets go of slot s's frame (its reference only). */
static void cache_drop(uint32_t s) {
  pfn_t pfn = swap_cache[s];
  swap_cache[s] = 0;
  frame_table[pfn].flags &= (uint8_t)~FRAME_SWAPCACHE;
  swap_stats.cache_pages--;
  frame_unref(pfn);
}

void swap_put(uint32_t s) {
  if (!valid_slot(s)) return;
  swap_map[s]--;
  /* Only the cache left: no PTE will ever ask for this slot again. */
  if (swap_map[s] == 1 && swap_cache[s]) {
    cache_drop(s);
    swap_map[s] = 0;
  }
  if (swap_map[s] == 0) slot_free(s);
}

/* The slot whose swap-cache frame is pfn, or 0.  A linear search, over the
 * slots ever taken only (pool-only mode has 16384 and uses few): only
 * evictions of swap-cache frames need it, and a reverse map would cost
 * memory per slot or per frame. */
static uint32_t cached_slot(pfn_t pfn) {
  for (uint32_t s = 1; s < slots_used_end; s++)
    if (swap_cache[s] == pfn) return s;
  return 0;
}

/* -- the disk ---------------------------------------------------------------- */

static int disk_write(uint32_t s, const void *page) {
  if (!disk) return -ENXIO;
  return blk_write(disk, (uint64_t)s * SWAP_SECTORS_PER_SLOT, SWAP_SECTORS_PER_SLOT, page);
}

/* The pool's write-back: its oldest entries go to their disk slots. */
static int writeback(uint32_t s, const void *page) {
  int rc = disk_write(s, page);
  if (rc == 0) swap_stats.disk_writes++;
  else swap_stats.write_errors++;
  return rc;
}

/* Slot s's page into page: from the pool, else the disk. */
static int read_slot(uint32_t s, void *page) {
  int rc = zswap_load(s, page);
  if (rc == 0) {
    swap_stats.pool_loads++;
    return 0;
  }
  if (rc != -ENOENT || !disk) return rc == -ENOENT ? -EIO : rc;
  rc = blk_read(disk, (uint64_t)s * SWAP_SECTORS_PER_SLOT, SWAP_SECTORS_PER_SLOT, page);
  if (rc == 0) swap_stats.disk_reads++;
  return rc;
}

/* -- the clock ---------------------------------------------------------------- */

/* Where the hand points: a process table slot and an address in it. */
static uint32_t hand_proc;
static vaddr_t hand_va;

/* The areas of an address space the clock visits, by address: image,
 * private mmap regions, heap, stack (shared memory and MAP_SHARED regions
 * never). */
struct span {
  vaddr_t start, end;
};
#define SPANS_MAX (3 + PROC_REGIONS_MAX)

static uint32_t clock_spans(const struct mm *mm, struct span *out) {
  uint32_t n = 0;
  out[n++] = (struct span){USER_BASE, mm->image_end};
  for (uint32_t i = 0; i < mm->region_count; i++)
    if (!(mm->regions[i].flags & MAP_SHARED) && mm->regions[i].prot != PROT_NONE)
      out[n++] = (struct span){mm->regions[i].start, mm->regions[i].end};
  out[n++] = (struct span){mm->heap_base, mm->brk};
  out[n++] = (struct span){mm->stack_limit, mm->stack_top};
  for (uint32_t i = 1; i < n; i++) /* insertion sort: a fixed region may lie anywhere */
    for (uint32_t j = i; j > 0 && out[j].start < out[j - 1].start; j--) {
      struct span t = out[j];
      out[j] = out[j - 1];
      out[j - 1] = t;
    }
  return n;
}

static bool live(const struct process *p) {
  return (p->state == PROC_READY || p->state == PROC_RUNNING || p->state == PROC_BLOCKED) &&
         p->mm.dir;
}

/* The next address >= va in one of p's spans with a page table over it, or 0. */
static vaddr_t next_candidate(struct process *p, vaddr_t va) {
  struct span spans[SPANS_MAX];
  uint32_t n = clock_spans(&p->mm, spans);
  for (uint32_t i = 0; i < n; i++) {
    if (va >= spans[i].end) continue;
    vaddr_t at = MAX(va, spans[i].start);
    while (at < spans[i].end) {
      if (vmm_table_present(p->mm.dir, at)) return at;
      at = ALIGN_DOWN(at, 2u << 20) + (2u << 20); /* a PAE table's span; legacy's is 2 of them */
    }
  }
  return 0;
}

/* Evicts a page whose frame is in the swap cache: its PTE names the slot
 * again (no write: the slot still has the page, the frame was never written
 * while cached), and the cache lets go of the frame, which is then free. */
static uint32_t evict_cached(struct process *p, vaddr_t va, pfn_t pfn) {
  uint32_t s = cached_slot(pfn);
  if (!s) return 0; /* FRAME_SWAPCACHE without a cache entry: the audit names it */
  /* The frame keeps the cache's reference; the slot gains this PTE's. */
  if (vmm_swap_out(p->mm.dir, va, s) != 0) return 0; /* recorded by the VMM: a kernel bug */
  /* The PTE's reference replaces the cache's: swap_map[s] stays. */
  cache_drop(s);                /* frees the frame */
  p->mm.pages--;
  p->mm.swapped_pages++;
  swap_stats.swap_outs++;
  return 1;
}

/* Evicts the page at va of p (present, owned, user, no other holder but
 * maybe the swap cache): 1 when it went, 0 when it stays (no slot, or the
 * disk refused it). */
static uint32_t evict(struct process *p, vaddr_t va, pfn_t pfn) {
  if (frame_table[pfn].flags & FRAME_SWAPCACHE) return evict_cached(p, va, pfn);
  uint32_t s = slot_alloc();
  if (!s) return 0;
  void *page = kmap_pfn(pfn);
  int rc = zswap_store(s, page);
  if (rc == 0) {
    swap_stats.pool_stores++;
  } else {
    rc = disk_write(s, page);
    if (rc == 0) {
      swap_stats.disk_writes++;
    } else if (disk) {
      swap_map[s] = SWAP_RETIRED; /* never reused; the page stays in RAM as it was */
      swap_stats.in_use--;
      swap_stats.retired++;
      swap_stats.write_errors++;
      krecord("SWAP error=write slot=%u errno=%d\n", s, rc);
    } else {
      slot_free(s); /* pool full, no disk: try another page later */
    }
  }
  kunmap(page);
  if (rc != 0) return 0;
  if (vmm_swap_out(p->mm.dir, va, s) != 0) { /* recorded by the VMM: a kernel bug */
    slot_free(s); /* the page stays in RAM; forget the copy */
    return 0;
  }
  /* The mapping's reference went: the frame is free. */
  p->mm.pages--;
  p->mm.swapped_pages++;
  swap_stats.swap_outs++;
  return 1;
}

/* Whether the clock may evict the page at va of p: its frame, or 0.  One
 * reference (this PTE's), or two when the other is the swap cache's: the
 * slot still holds the page, so the PTE can name it again. */
static pfn_t evictable(struct process *p, vaddr_t va) {
  pfn_t pfn;
  uint32_t flags;
  if (vmm_lookup_pfn(p->mm.dir, va, &pfn, &flags) != 0) return 0; /* absent, protnone, swapped */
  if ((flags & (PAGE_USER | PAGE_OWNED)) != (PAGE_USER | PAGE_OWNED)) return 0;
  uint8_t frame_flags = frame_table[pfn].flags;
  if (frame_flags & (FRAME_PINNED | FRAME_PAGECACHE)) return 0;
  if (frame_refs(pfn) != ((frame_flags & FRAME_SWAPCACHE) ? 2u : 1u)) return 0;
  const struct vm_region *region = mmap_region_at(&p->mm, va);
  if (region && (region->flags & MAP_SHARED)) return 0;
  return pfn;
}

/* Looks at the page at va of p: evicts it (1) or gives it a second chance.
 * A frame on a node outside `nodes` keeps its ACCESSED bit: the page was
 * never a candidate. */
static uint32_t clock_visit(struct process *p, vaddr_t va, uint32_t nodes) {
  swap_stats.scanned++;
  pfn_t pfn = evictable(p, va);
  if (!pfn || !(nodes & (1u << frame_table[pfn].node))) return 0;
  if (vmm_clear_accessed(p->mm.dir, va)) {
    swap_stats.second_chances++;
    return 0;
  }
  return evict(p, va, pfn);
}

uint32_t swap_out_pages(uint32_t want, uint32_t nodes) {
  if (swap_stats.slots == 0) return 0;
  /* Two sweeps over every page at most: the first may only clear bits.  A
   * sweep is the hand passing every process once; counting passes (not
   * PTEs looked at) keeps a sparse space's empty entries from using up the
   * sweeps before the pages behind them had their chance.  One more pass
   * finishes the process the hand started in. */
  uint32_t passes = 2 * PROC_MAX + 1, got = 0;
  while (got < want && passes) {
    struct process *p = &proc_table[hand_proc % PROC_MAX];
    vaddr_t va = live(p) ? next_candidate(p, hand_va) : 0;
    if (!va) { /* this process is done: the next one from its start */
      hand_proc = (hand_proc + 1) % PROC_MAX;
      hand_va = 0;
      passes--;
      continue;
    }
    got += clock_visit(p, va, nodes);
    hand_va = va + PAGE_SIZE;
  }
  return got;
}

int32_t swap_pageout(struct process *p, vaddr_t addr, uint32_t len) {
  /* addr < USER_TOP first: USER_TOP - addr must not wrap, and then
   * end <= USER_TOP cannot either. */
  if (!IS_ALIGNED(addr, PAGE_SIZE) || addr < USER_BASE || addr >= USER_TOP ||
      len > USER_TOP - addr)
    return -EINVAL;
  if (swap_stats.slots == 0) return 0;
  int32_t evicted = 0;
  vaddr_t end = addr + len;
  for (vaddr_t va = addr; va < end; va += PAGE_SIZE) {
    pfn_t pfn = evictable(p, va);
    if (pfn) evicted += (int32_t)evict(p, va, pfn);
  }
  return evicted;
}

/* -- swap-in -------------------------------------------------------------------- */

enum fault_reason swap_fault(struct process *p, vaddr_t page) {
  uint32_t s, rights;
  if (vmm_lookup_swap(p->mm.dir, page, &s, &rights) != 0) return REASON_COUNT;
  const struct vm_region *region = mmap_region_at(&p->mm, page);
  if (region && region->prot == PROT_NONE) return REASON_GUARD;
  if (!valid_slot(s)) return REASON_SWAP_IO; /* a kernel bug: the audit names it */
  pfn_t pfn = swap_cache[s];
  if (pfn) {
    swap_stats.cache_hits++;
  } else {
    pfn = reclaim_user_frame();
    /* reclaim may have run the clock, but never over this entry: it is
     * not present, and the slot keeps its reference. */
    if (!pfn) return REASON_OUT_OF_MEMORY;
    void *k = kmap_pfn(pfn);
    int rc = read_slot(s, k);
    kunmap(k);
    if (rc != 0) {
      pmm_free_frame(pfn);
      swap_stats.read_errors++;
      krecord("SWAP error=read slot=%u pid=%u va=%p errno=%d\n", s, p->pid, (void *)page, rc);
      return REASON_SWAP_IO;
    }
    if (swap_map[s] > 1) { /* other PTEs name it: keep the frame for them */
      swap_cache[s] = pfn;
      frame_ref(pfn);
      frame_table[pfn].flags |= FRAME_SWAPCACHE;
      swap_map[s]++;
      swap_stats.cache_pages++;
    }
  }
  uint32_t flags = (rights & (PAGE_USER | PAGE_WRITE | PAGE_COW | PAGE_EXEC)) | PAGE_OWNED;
  if (flags & PAGE_COW) frame_table[pfn].flags |= FRAME_COW; /* the audit's rule */
  if (vmm_swap_in(p->mm.dir, page, pfn, flags) != 0) { /* recorded by the VMM: a kernel bug */
    if (!frame_refs(pfn)) {
      frame_table[pfn].flags &= (uint8_t)~FRAME_COW; /* a free frame has no flags */
      pmm_free_frame(pfn);
    }
    return REASON_SWAP_IO;
  }
  swap_put(s);
  p->mm.pages++;
  p->mm.swapped_pages--;
  swap_stats.swap_ins++;
  return REASON_SWAP_IN;
}

/* -- boot ------------------------------------------------------------------------ */

void swap_init(void) {
  const char *name = cmdline_get("swap");
  if (!name) name = "hdc";
  disk = strcmp(name, "off") == 0 ? NULL : blk_find(name);
  bool pool = cmdline_bool("zswap", true);
  uint32_t max_kib = cmdline_uint("zswap_max", get_total_memory() / 4 / 1024);
  uint32_t slots = 0;
  if (disk) {
    uint64_t pages = disk->sectors / SWAP_SECTORS_PER_SLOT;
    slots = pages > SWAP_SLOTS_LIMIT ? SWAP_SLOTS_LIMIT : (uint32_t)pages;
    swap_disk_index = disk->index;
  } else if (pool) {
    slots = SWAP_POOL_SLOTS;
  }
  if (slots < 2) slots = 0; /* slot 0 is never used */
  swap_stats.slots = slots;
  if (disk && slots && !maps_ready()) swap_stats.slots = slots = 0;
  zswap_init(pool && slots ? max_kib * 1024 : 0, disk ? writeback : NULL);
  krecord("SWAP dev=%s slots=%u pool=%s\n", disk ? disk->name : "none", slots,
          pool && slots ? "on" : "off");
}
