/* Page directories and page tables.  arch/i386/paging.h has the formats;
 * this file decides what is mapped where. */
#include "mm/vmm.h"
#include "arch/i386/cpu.h"
#include "kernel/bootinfo.h"
#include "kernel/cpufeatures.h"
#include "kernel/errno.h"
#include "kernel/kprintf.h"
#include "kernel/panic.h"
#include "kernel/tlb.h"
#include "arch/i386/multiboot.h"
#include "lib/string.h"
#include "memlayout.h"
#include "mm/frame.h"
#include "mm/pmm.h"
#include "mm/pool.h"
#include "mm/reclaim.h"
#include "mm/swap.h"

#include "kernel/cmdline.h"

#define KERNEL_PDE_FIRST PDX(KERNEL_BASE) /* 768 */
#define LEGACY_KERNEL_TABLES (ENTRIES_PER_TABLE - KERNEL_PDE_FIRST)    /* 256 */
#define PAE_KERNEL_TABLES PAE_ENTRIES                                  /* 512 */
#define PAE_USER_DIRS (PAE_PDPT_ENTRIES - 1) /* PDPT entries 0-2; 3 is the kernel's */
#define KMAP_SLOTS 4
/* What PAE paging addresses: 36 bits (64 GiB), the first PAE CPUs' MAXPHYADDR
 * and QEMU's i386 default; the PMM covers RAM up to here. */
#define PAE_PHYS_LIMIT (1ull << 36)

page_directory_t *current_directory = &kernel_page_directory;
struct vmm_stats vmm_stats;
uint32_t vmm_mode;
uint32_t nx_enabled;

/* Physical addresses of the kernel's page tables, from KERNEL_BASE upwards.
 * Kernel half lookups use these directly: they are the same in every address
 * space. */
static paddr_t kernel_tables[PAE_KERNEL_TABLES];
static uint32_t kernel_table_count;
static paddr_t kernel_pae_pd; /* PAE: the kernel half's page directory */
static uint32_t global_flag;  /* PAGE_GLOBAL when the CPU has PGE */
static uint64_t nx_bit;       /* PAE_NX when NX is on, else 0 */
static bool kmap_busy[KMAP_SLOTS];

void trap_set_double_fault_cr3(paddr_t cr3);
void pae_enable(paddr_t pdpt, uint32_t nxe); /* arch/i386/pae_switch.S */

paddr_t directory_phys(const page_directory_t *dir) { return V2P(dir); }

/* A zeroed frame below limit, the end of the mapping the kernel reaches it
 * through (the boot mapping while vmm_init builds the tables, the direct map
 * after), or 0.  The check comes before the memset, which could not reach a
 * frame past the mapping. */
static paddr_t alloc_frame_below(paddr_t limit) {
  paddr_t pa = (paddr_t)allocate_page();
  if (!pa) return 0;
  if (pa >= limit) { /* lowest-first: every frame below limit is taken */
    free_page((void *)pa);
    return 0;
  }
  memset(P2V(pa), 0, PAGE_SIZE);
  return pa;
}

paddr_t alloc_kernel_frame(void) { return alloc_frame_below(DIRECT_MAP_LIMIT); }

/* -- entries in either format ------------------------------------------------
 * An entry is a pointer to a pte_t/pde_t (legacy) or a pae_entry_t (PAE); its
 * value travels as 64 bits either way. */

static inline uint64_t entry_get(const void *e) {
  if (vmm_mode == VMM_PAE) return *(const volatile pae_entry_t *)e;
  return *(const volatile uint32_t *)e;
}

/* A PAE entry is written in two 32-bit halves: the half with the present bit
 * (low) goes last when the entry becomes present and first when it stops
 * being present, so the CPU never walks through half an entry.  (A present
 * entry changing both halves, vmm_protect, is briefly mixed; nothing walks it
 * meanwhile: one CPU, interrupts off, and the entry maps no code or data the
 * two stores use.) */
static inline void entry_set(void *e, uint64_t v) {
  if (vmm_mode != VMM_PAE) {
    *(volatile uint32_t *)e = (uint32_t)v;
    return;
  }
  volatile uint32_t *half = e;
  uint32_t low = (uint32_t)v, high = (uint32_t)(v >> 32);
  if (v & PAGE_PRESENT) {
    half[1] = high;
    half[0] = low;
  } else {
    half[0] = low;
    half[1] = high;
  }
}

static inline paddr_t entry_addr(uint64_t e) {
  return (paddr_t)(e & (vmm_mode == VMM_PAE ? PAE_FRAME_MASK : PAGE_FRAME_MASK));
}

/* The frame number in an entry: 64-bit frames above 4 GiB included (entry_addr
 * is for page tables and directories, always below 4 GiB). */
static inline pfn_t entry_pfn(uint64_t e) {
  return (pfn_t)((e & (vmm_mode == VMM_PAE ? PAE_FRAME_MASK : PAGE_FRAME_MASK)) >> PAGE_SHIFT);
}

static inline uint64_t pfn_addr(pfn_t pfn) { return (uint64_t)pfn << PAGE_SHIFT; }

/* A not-present entry that keeps its frame (PAGE_PROTNONE in vmm.h). */
static inline bool is_protnone(uint64_t e) {
  return (e & (PAGE_PRESENT | PAGE_PROTNONE)) == PAGE_PROTNONE;
}

/* A not-present entry naming a swap slot (PAGE_SWAP in vmm.h). */
static inline bool is_swap(uint64_t e) { return (e & (PAGE_PRESENT | PAGE_SWAP)) == PAGE_SWAP; }

/* The slot a swap entry names: its frame bits (slots stay below 2^20, so the
 * low half holds them in either format). */
static inline uint32_t swap_slot_of(uint64_t e) { return (uint32_t)e >> PAGE_SHIFT; }

static inline uint32_t table_entries(void) {
  return vmm_mode == VMM_PAE ? PAE_ENTRIES : ENTRIES_PER_TABLE;
}

static inline uint32_t entry_size(void) {
  return vmm_mode == VMM_PAE ? sizeof(pae_entry_t) : sizeof(pte_t);
}

static inline pae_entry_t *pdpt_of(const page_directory_t *dir) {
  return (pae_entry_t *)dir;
}

/* The page directory entry covering va in dir.  In PAE mode every PDPT
 * entry is present (see create_page_directory). */
static void *find_pde(const page_directory_t *dir, vaddr_t va) {
  if (vmm_mode == VMM_PAE)
    return (pae_entry_t *)P2V(entry_addr(pdpt_of(dir)[PAE_PDPX(va)])) + PAE_PDX(va);
  return (pde_t *)&dir->entries[PDX(va)];
}

static inline void *table_slot(paddr_t table, vaddr_t va) {
  if (vmm_mode == VMM_PAE) return (pae_entry_t *)P2V(table) + PAE_PTX(va);
  return (pte_t *)P2V(table) + PTX(va);
}

/* The leaf entry for (pa, flags) at va: PAGE_EXEC is not stored, its absence
 * is NX. */
static uint64_t leaf_entry(vaddr_t va, uint64_t pa, uint32_t flags) {
  uint64_t e = pa | (flags & ~PAGE_EXEC) | PAGE_PRESENT;
  if (va >= KERNEL_BASE) e |= global_flag;
  if (!(flags & PAGE_EXEC)) e |= nx_bit;
  return e;
}

/* The flags lookup reports for a leaf entry: its low bits, and PAGE_EXEC when
 * the hardware lets the page execute. */
static uint32_t leaf_flags(uint64_t e) {
  uint32_t flags = (uint32_t)e & PAGE_FLAGS_MASK & ~PAGE_EXEC;
  if (!(nx_enabled && (e & PAE_NX))) flags |= PAGE_EXEC;
  return flags;
}

static void flush(page_directory_t *dir, vaddr_t va) {
  /* The kernel half is shared by every directory, so it is always live. */
  if (dir == current_directory || va >= KERNEL_BASE) {
    invlpg(va);
    vmm_stats.tlb_flushes++;
  }
}

/* The entry at va lost its frame or some rights: every CPU that may cache
 * it forgets it before the frame or the rights are used again.  A kernel
 * page may be cached on every CPU (kernel/tlb.h); a user page only on CPU
 * 0 so far, the one CPU that runs user code. */
static void flush_removed(page_directory_t *dir, vaddr_t va) {
  if (va < KERNEL_BASE) return flush(dir, va);
  tlb_shootdown_kernel(va, 1);
  vmm_stats.tlb_flushes++;
}

static int refuse(int err, const char *kind, const char *op, vaddr_t va, paddr_t pa,
                  uint32_t flags, vaddr_t caller) {
  vmm_stats.errors++;
  vmm_stats.last_error_caller = caller;
  krecord("VMM error=%s op=%s va=%p pa=%p flags=0x%x caller=%p\n", kind, op, (void *)va,
          (void *)pa, flags, (void *)caller);
  return err;
}

/* The PTE for va in dir, or NULL when its page table is absent.  Written
 * out per format: this is on every map, unmap and lookup, and the legacy
 * path stays as short as it was before PAE existed. */
static inline void *find_pte(page_directory_t *dir, vaddr_t va) {
  if (vmm_mode == VMM_PAE) {
    pae_entry_t pde = *(const volatile pae_entry_t *)find_pde(dir, va);
    if (!(pde & PAGE_PRESENT) || (pde & PAGE_PS)) return NULL;
    return (pae_entry_t *)P2V((paddr_t)(pde & PAE_FRAME_MASK)) + PAE_PTX(va);
  }
  pde_t pde = *(const volatile pde_t *)&dir->entries[PDX(va)];
  if (!(pde & PAGE_PRESENT) || (pde & PAGE_PS)) return NULL;
  return (pte_t *)P2V(PTE_ADDR(pde)) + PTX(va);
}

/* Why flags cannot be mapped at va, or NULL when they can. */
static const char *flags_problem(uint32_t flags, vaddr_t va) {
  if (flags & ~PAGE_MAP_FLAGS) return "bad-flags";
  if (!(flags & (PAGE_USER | PAGE_COW))) return NULL; /* kernel pages: the short path */
  if ((flags & PAGE_USER) && va >= KERNEL_BASE) return "user-in-kernel-space";
  if ((flags & PAGE_USER) && (flags & PAGE_WRITE) && (flags & PAGE_EXEC))
    return "write-and-exec";
  if ((flags & PAGE_COW) && (flags & PAGE_WRITE)) return "write-and-cow";
  return NULL;
}

/* A new user page table for the PDE at pde (user rights live in the PTEs;
 * the PDE allows everything they allow, execution included). */
struct pool *vmm_table_pool;
bool vmm_table_may_use_reserve;

void vmm_pools_init(void) {
  vmm_table_pool = pool_create("pagetables", PAGE_SIZE, VMM_TABLE_RESERVE);
  ASSERT(vmm_table_pool);
}

static bool add_user_table(void *pde) {
  /* kernel tables are preallocated; the pool reclaims user pages when no
   * frame is free, and only a fault may use its reserve (vmm.h) */
  void *table = vmm_table_may_use_reserve ? pool_alloc(vmm_table_pool)
                                          : pool_alloc_normal(vmm_table_pool);
  if (!table) return false;
  entry_set(pde, V2P(table) | PAGE_PRESENT | PAGE_WRITE | PAGE_USER);
  vmm_stats.user_page_tables++;
  return true;
}

/* pa is 64-bit: vmm_map_pfn maps frames above 4 GiB through here (a refusal's
 * record shows the address's low 32 bits; nothing high is ever unaligned). */
static int map_at(page_directory_t *dir, vaddr_t va, uint64_t pa, uint32_t flags,
                  vaddr_t caller) {
  if (!IS_ALIGNED(va, PAGE_SIZE) || !IS_ALIGNED(pa, PAGE_SIZE))
    return refuse(-EINVAL, "unaligned", "map", va, (paddr_t)pa, flags, caller);
  const char *problem = flags_problem(flags, va);
  if (problem) return refuse(-EINVAL, problem, "map", va, (paddr_t)pa, flags, caller);
  if ((flags & PAGE_OWNED) && !frame_can_ref((pfn_t)(pa >> PAGE_SHIFT)))
    return refuse(-EINVAL, "bad-frame", "map", va, (paddr_t)pa, flags, caller);
  void *pde = find_pde(dir, va);
  if (!(entry_get(pde) & PAGE_PRESENT) && !add_user_table(pde))
    return refuse(-ENOMEM, "no-frame-for-table", "map", va, (paddr_t)pa, flags, caller);
  void *pte = table_slot(entry_addr(entry_get(pde)), va);
  /* a protnone entry holds a frame, a swap entry a slot */
  if (entry_get(pte) & (PAGE_PRESENT | PAGE_PROTNONE | PAGE_SWAP)) /* bit 7 is PAT only when P */
    return refuse(-EEXIST, "exists", "map", va, (paddr_t)pa, flags, caller);
  if (flags & PAGE_OWNED) frame_ref((pfn_t)(pa >> PAGE_SHIFT)); /* checked above */
  entry_set(pte, leaf_entry(va, pa, flags));
  flush(dir, va); /* a not-present entry is never cached, but a racing walk may be */
  vmm_stats.maps++;
  return 0;
}

int vmm_map(page_directory_t *dir, vaddr_t va, paddr_t pa, uint32_t flags) {
  return map_at(dir, va, pa, flags, CALLER());
}

int vmm_map_pfn(page_directory_t *dir, vaddr_t va, pfn_t pfn, uint32_t flags) {
  if (vmm_mode != VMM_PAE && pfn >= (1u << (32 - PAGE_SHIFT)))
    return refuse(-EINVAL, "beyond-4g", "map", va, 0, flags, CALLER());
  return map_at(dir, va, pfn_addr(pfn), flags, CALLER());
}

int map_page(uint32_t virtual, uint32_t physical, uint32_t flags) {
  return map_at(current_directory, virtual, physical, flags, CALLER());
}

static int unmap_at(page_directory_t *dir, vaddr_t va, paddr_t *old, vaddr_t caller) {
  if (!IS_ALIGNED(va, PAGE_SIZE)) return refuse(-EINVAL, "unaligned", "unmap", va, 0, 0, caller);
  void *pte = find_pte(dir, va);
  /* present, or not present with PAGE_PROTNONE (a kept frame) or PAGE_SWAP (a slot) */
  if (!pte || !(entry_get(pte) & (PAGE_PRESENT | PAGE_PROTNONE | PAGE_SWAP)))
    return refuse(-ENOENT, "not-mapped", "unmap", va, 0, 0, caller);
  uint64_t entry = entry_get(pte);
  entry_set(pte, 0);
  flush_removed(dir, va);
  if (__builtin_expect(is_swap(entry), 0)) { /* the slot loses this reference; nothing was mapped */
    swap_put(swap_slot_of(entry));
    if (old) *old = 0;
    vmm_stats.unmaps++;
    return 0;
  }
  if (old) *old = entry_addr(entry);
  if (entry & PAGE_OWNED) frame_unref(entry_pfn(entry)); /* freed at zero references */
  vmm_stats.unmaps++;
  return 0;
}

int vmm_unmap(page_directory_t *dir, vaddr_t va, paddr_t *old) {
  return unmap_at(dir, va, old, CALLER());
}

int unmap_page(uint32_t virtual) { return unmap_at(current_directory, virtual, NULL, CALLER()); }

int vmm_lookup_pfn(page_directory_t *dir, vaddr_t va, pfn_t *pfn, uint32_t *flags) {
  uint64_t pde = entry_get(find_pde(dir, va));
  if ((pde & PAGE_PRESENT) && (pde & PAGE_PS)) {
    uint32_t pages = (vmm_mode == VMM_PAE ? PAE_LARGE_PAGE_SIZE : LARGE_PAGE_SIZE) / PAGE_SIZE;
    if (pfn) *pfn = (entry_pfn(pde) & ~(pages - 1)) | ((va >> PAGE_SHIFT) & (pages - 1));
    if (flags) *flags = leaf_flags(pde);
    return 0;
  }
  void *pte = find_pte(dir, va);
  if (!pte || !(entry_get(pte) & PAGE_PRESENT)) return -ENOENT;
  if (pfn) *pfn = entry_pfn(entry_get(pte));
  if (flags) *flags = leaf_flags(entry_get(pte));
  return 0;
}

int vmm_lookup_kept(page_directory_t *dir, vaddr_t va, pfn_t *pfn, uint32_t *flags) {
  if (vmm_lookup_pfn(dir, va, pfn, flags) == 0) return 0;
  void *pte = find_pte(dir, va);
  if (!pte || !is_protnone(entry_get(pte))) return -ENOENT;
  uint64_t e = entry_get(pte);
  if (pfn) *pfn = entry_pfn(e);
  if (flags) *flags = (uint32_t)e & (PAGE_PROTNONE | PAGE_USER | PAGE_OWNED | PAGE_COW);
  return 0;
}

int vmm_lookup(page_directory_t *dir, vaddr_t va, paddr_t *pa, uint32_t *flags) {
  pfn_t pfn;
  int rc = vmm_lookup_pfn(dir, va, &pfn, flags);
  if (rc) return rc;
  if (pa && pfn >= (1u << (32 - PAGE_SHIFT))) return -EINVAL; /* no paddr_t can say it */
  if (pa) *pa = pfn << PAGE_SHIFT;
  return 0;
}

int vmm_protect(page_directory_t *dir, vaddr_t va, uint32_t flags) {
  vaddr_t caller = CALLER();
  if (!IS_ALIGNED(va, PAGE_SIZE))
    return refuse(-EINVAL, "unaligned", "protect", va, 0, flags, caller);
  const char *problem = flags_problem(flags, va);
  if (problem)
    return refuse(-EINVAL, problem[0] == 'w' ? problem : "bad-flags", "protect", va, 0, flags,
                  caller);
  void *pte = find_pte(dir, va);
  if (!pte || !(entry_get(pte) & PAGE_PRESENT || is_protnone(entry_get(pte))))
    return refuse(-ENOENT, "not-mapped", "protect", va, 0, flags, caller);
  entry_set(pte, leaf_entry(va, pfn_addr(entry_pfn(entry_get(pte))), flags));
  flush_removed(dir, va);
  vmm_stats.protects++;
  return 0;
}

int vmm_protnone(page_directory_t *dir, vaddr_t va) {
  vaddr_t caller = CALLER();
  if (!IS_ALIGNED(va, PAGE_SIZE))
    return refuse(-EINVAL, "unaligned", "protnone", va, 0, 0, caller);
  void *pte = find_pte(dir, va);
  uint64_t e = pte ? entry_get(pte) : 0;
  if (is_protnone(e)) return 0;
  if (!(e & PAGE_PRESENT)) return refuse(-ENOENT, "not-mapped", "protnone", va, 0, 0, caller);
  if ((e & (PAGE_OWNED | PAGE_USER)) != (PAGE_OWNED | PAGE_USER))
    return refuse(-EINVAL, "not-owned", "protnone", va, 0, (uint32_t)e & 0xFFF, caller);
  /* Keep the frame (both halves under PAE), U, OWNED and COW; entry_set
   * clears P first, so the CPU never sees the entry half changed. */
  uint64_t frame = e & (vmm_mode == VMM_PAE ? PAE_FRAME_MASK : PAGE_FRAME_MASK);
  entry_set(pte, frame | PAGE_PROTNONE | ((uint32_t)e & (PAGE_USER | PAGE_OWNED | PAGE_COW)));
  flush_removed(dir, va);
  vmm_stats.protects++;
  return 0;
}

void *get_page_table(uint32_t pd_index, bool create) {
  if (pd_index >= (vmm_mode == VMM_PAE ? PAE_PDPT_ENTRIES * PAE_ENTRIES : ENTRIES_PER_TABLE))
    return NULL;
  vaddr_t va = pd_index << (vmm_mode == VMM_PAE ? PAE_PD_SHIFT : PDX_SHIFT);
  void *pde = find_pde(current_directory, va);
  if (!(entry_get(pde) & PAGE_PRESENT) && (!create || !add_user_table(pde))) return NULL;
  if (entry_get(pde) & PAGE_PS) return NULL;
  return P2V(entry_addr(entry_get(pde)));
}

/* -- directories ---------------------------------------------------------- */

/* PAE: a PDPT page and its three user page directories, or NULL. */
static page_directory_t *create_pae_space(void) {
  paddr_t pdpt = alloc_kernel_frame();
  if (!pdpt) return NULL;
  page_directory_t *dir = P2V(pdpt);
  for (uint32_t i = 0; i < PAE_USER_DIRS; i++) {
    paddr_t pd = alloc_kernel_frame();
    if (!pd) {
      while (i--) free_page((void *)entry_addr(pdpt_of(dir)[i]));
      free_page((void *)pdpt);
      return NULL;
    }
    pdpt_of(dir)[i] = pd | PAGE_PRESENT;
  }
  pdpt_of(dir)[PAE_USER_DIRS] = kernel_pae_pd | PAGE_PRESENT;
  return dir;
}

page_directory_t *create_page_directory(void) {
  page_directory_t *dir;
  if (vmm_mode == VMM_PAE) {
    dir = create_pae_space();
    if (!dir) return NULL;
  } else {
    paddr_t pa = alloc_kernel_frame();
    if (!pa) return NULL;
    dir = P2V(pa);
    memcpy(&dir->entries[KERNEL_PDE_FIRST], &kernel_page_directory.entries[KERNEL_PDE_FIRST],
           LEGACY_KERNEL_TABLES * sizeof(pde_t));
  }
  vmm_stats.directories++;
  return dir;
}

/* Frees the user page tables of the user page directory at pd (and every
 * owned frame they map): `count` PDEs of `entries_size` bytes. */
static void free_user_tables(void *pd, uint32_t count) {
  for (uint32_t i = 0; i < count; i++) {
    uint64_t pde = entry_get((uint8_t *)pd + i * entry_size());
    if (!(pde & PAGE_PRESENT)) continue;
    paddr_t table = entry_addr(pde);
    for (uint32_t j = 0; j < table_entries(); j++) {
      uint64_t pte = entry_get((uint8_t *)P2V(table) + j * entry_size());
      /* present or protnone: either holds a reference */
      if ((pte & (PAGE_PRESENT | PAGE_PROTNONE)) && (pte & PAGE_OWNED))
        frame_unref(entry_pfn(pte));
      else if (is_swap(pte))
        swap_put(swap_slot_of(pte));
    }
    pool_free(vmm_table_pool, P2V(table)); /* refills the reserve first */
    vmm_stats.user_page_tables--;
  }
}

void destroy_page_directory(page_directory_t *dir) {
  if (dir == &kernel_page_directory || dir == current_directory) {
    refuse(0, dir == &kernel_page_directory ? "destroy-kernel" : "destroy-current", "destroy",
           (vaddr_t)dir, 0, 0, CALLER());
    return;
  }
  if (vmm_mode == VMM_PAE) {
    for (uint32_t i = 0; i < PAE_USER_DIRS; i++) {
      paddr_t pd = entry_addr(pdpt_of(dir)[i]);
      free_user_tables(P2V(pd), PAE_ENTRIES);
      free_page((void *)pd);
    }
  } else {
    free_user_tables(dir->entries, KERNEL_PDE_FIRST);
  }
  free_page((void *)directory_phys(dir));
  vmm_stats.directories--;
}

void switch_page_directory(page_directory_t *dir) {
  current_directory = dir;
  write_cr3(directory_phys(dir)); /* PAE: the CPU loads the four PDPT entries now */
  vmm_stats.cr3_loads++;
}

/* -- the kernel half -------------------------------------------------------- */

/* The kernel-half entry for va (va >= KERNEL_BASE). */
static void *kernel_pte(vaddr_t va) {
  uint32_t span = table_entries() * PAGE_SIZE; /* bytes one table maps */
  return table_slot(kernel_tables[(va - KERNEL_BASE) / span], va);
}

/* -- temporary mappings ----------------------------------------------------- */

void *kmap_pfn(pfn_t pfn) {
  if (pfn < DIRECT_MAP_LIMIT / PAGE_SIZE) return P2V(pfn << PAGE_SHIFT);
  return kmap_window(pfn);
}

/* A free kmap slot mapping pfn with `rights` (PAGE_WRITE or 0), never
 * executable. */
static void *map_window(pfn_t pfn, uint32_t rights) {
  for (uint32_t slot = 0; slot < KMAP_SLOTS; slot++) {
    if (kmap_busy[slot]) continue;
    kmap_busy[slot] = true;
    vaddr_t va = KMAP_BASE + slot * PAGE_SIZE;
    entry_set(kernel_pte(va), pfn_addr(pfn) | PAGE_PRESENT | rights | nx_bit);
    invlpg(va);
    return (void *)va;
  }
  PANIC("all %u kmap slots are in use", KMAP_SLOTS);
}

void *kmap_window(pfn_t pfn) { return map_window(pfn, PAGE_WRITE); }

const void *kmap_window_readonly(pfn_t pfn) { return map_window(pfn, 0); }

void *kmap(paddr_t pa) { return (uint8_t *)kmap_pfn(pa >> PAGE_SHIFT) + PGOFF(pa); }

void kunmap(void *ptr) {
  vaddr_t va = ALIGN_DOWN((vaddr_t)ptr, PAGE_SIZE);
  if (va < KMAP_BASE) return; /* a direct-map pointer */
  uint32_t slot = (va - KMAP_BASE) / PAGE_SIZE;
  ASSERT(slot < KMAP_SLOTS && kmap_busy[slot]);
  entry_set(kernel_pte(va), 0);
  tlb_shootdown_kernel(va, 1); /* the slot maps another frame next */
  kmap_busy[slot] = false;
}

/* -- the kernel's own tables --------------------------------------------- */

static void map_kernel_page(vaddr_t va, paddr_t pa, uint32_t flags) {
  entry_set(kernel_pte(va), leaf_entry(va, pa, flags));
}

/* Permissions for a direct-map page: least privilege for the kernel image
 * (text read-only and executable, rodata read-only), no mapping for the boot
 * stack's guard page, read-write and not executable for other RAM. */
static uint32_t kernel_page_flags(vaddr_t va) {
  if (va >= (vaddr_t)__text_start && va < (vaddr_t)__text_end) return PAGE_EXEC;
  if (va >= (vaddr_t)__rodata_start && va < (vaddr_t)__rodata_end) return 0; /* read-only */
  if (va >= (vaddr_t)boot_stack_guard && va < (vaddr_t)boot_stack_bottom) return PAGE_ACCESSED;
  return PAGE_WRITE;
}

/* paging=auto|legacy|pae: auto and pae mean PAE when the CPU has it. */
static const char *const paging_options[] = {"auto", "legacy", "pae"};
enum { PAGING_AUTO, PAGING_LEGACY, PAGING_PAE, NONE_REQUESTED };

static const char *feature_state(bool cpu_has, bool used) {
  return used ? "on" : cpu_has ? "off" : "unavailable";
}

/* The kernel's PAE tables: its page directory, pointing at every kernel
 * page table.  The PDPT comes later (vmm_init). */
static void build_pae_kernel_directory(void) {
  kernel_pae_pd = alloc_frame_below(BOOT_MAPPED_LIMIT);
  if (!kernel_pae_pd) PANIC("no frame for the kernel page directory below the boot mapping");
  pae_entry_t *pd = P2V(kernel_pae_pd);
  for (uint32_t i = 0; i < PAE_KERNEL_TABLES; i++)
    pd[i] = (uint64_t)kernel_tables[i] | PAGE_PRESENT | PAGE_WRITE;
}

/* The temporary PDPT switch_to_pae goes through (PDPTs are 32-byte aligned). */
static pae_entry_t __attribute__((aligned(32))) boot_pdpt[PAE_PDPT_ENTRIES];

/* Legacy -> PAE.  The kernel's PDPT will be kernel_page_directory's page (so
 * CR3 still names that symbol), but the boot tables live there until paging
 * is off.  So: switch through a temporary PDPT whose entries 0 and 3 both
 * point at the kernel page directory: entry 0 maps the first GiB of physical
 * memory at 0 as entry 3 maps it at KERNEL_BASE, which is the identity map
 * pae_enable needs to turn paging back on under its own feet.  Then, on the
 * new tables, rewrite kernel_page_directory as the real PDPT (user entries
 * 0-2, kernel entry 3, no identity map) and load it. */
static void switch_to_pae(void) {
  boot_pdpt[0] = boot_pdpt[3] = kernel_pae_pd | PAGE_PRESENT;
  pae_enable(V2P(boot_pdpt), nx_enabled);
  /* On the new tables now: the whole direct map is there to zero frames in. */
  memset(&kernel_page_directory, 0, sizeof(kernel_page_directory));
  for (uint32_t i = 0; i < PAE_USER_DIRS; i++) {
    paddr_t pd = alloc_kernel_frame();
    if (!pd) PANIC("no frame for the kernel's user page directories");
    pdpt_of(&kernel_page_directory)[i] = pd | PAGE_PRESENT;
  }
  pdpt_of(&kernel_page_directory)[PAE_USER_DIRS] = kernel_pae_pd | PAGE_PRESENT;
  switch_page_directory(&kernel_page_directory);
}

/* Legacy: the live directory's kernel PDEs go over to the new tables, and
 * the boot identity map goes.  Each PDE changes atomically and the new tables
 * map the running code the same way as the boot tables did. */
static void switch_legacy(void) {
  for (uint32_t i = 0; i < LEGACY_KERNEL_TABLES; i++)
    kernel_page_directory.entries[KERNEL_PDE_FIRST + i] = kernel_tables[i] | PAGE_PRESENT |
                                                          PAGE_WRITE;
  for (uint32_t i = 0; i < KERNEL_PDE_FIRST; i++) kernel_page_directory.entries[i] = 0;
  switch_page_directory(&kernel_page_directory);
}

static uint32_t requested = NONE_REQUESTED;

/* The paging mode, decided once from the command line and the CPU: memory_init
 * asks first (vmm_phys_limit), before vmm_init builds the tables. */
static void choose_mode(void) {
  if (requested != NONE_REQUESTED) return;
  requested = cmdline_choice("paging", paging_options, ARRAY_SIZE(paging_options), PAGING_AUTO);
  vmm_mode = cpu_features.pae && requested != PAGING_LEGACY ? VMM_PAE : VMM_LEGACY;
  nx_enabled = vmm_mode == VMM_PAE && cpu_features.nx;
  nx_bit = nx_enabled ? PAE_NX : 0;
}

uint64_t vmm_phys_limit(void) {
  choose_mode();
  return vmm_mode == VMM_PAE ? PAE_PHYS_LIMIT : 1ull << 32;
}

void vmm_init(void) {
  choose_mode();
  kernel_table_count = vmm_mode == VMM_PAE ? PAE_KERNEL_TABLES : LEGACY_KERNEL_TABLES;
  if (cpu_features.pge) global_flag = PAGE_GLOBAL;
  for (uint32_t i = 0; i < kernel_table_count; i++) {
    kernel_tables[i] = alloc_frame_below(BOOT_MAPPED_LIMIT);
    if (!kernel_tables[i]) PANIC("no frame for kernel page table %u below the boot mapping", i);
  }
  if (vmm_mode == VMM_PAE) build_pae_kernel_directory();

  /* The direct map: every available frame above the first MiB, below the
   * direct-map limit.  Holes and reserved regions (ACPI, MMIO) stay unmapped. */
  for (uint32_t r = 0; r < boot_info.region_count; r++) {
    const struct boot_memory_region *region = &boot_info.regions[r];
    if (region->type != MULTIBOOT_MEMORY_AVAILABLE) continue;
    uint64_t start = MAX(ALIGN_UP(region->start, PAGE_SIZE), (uint64_t)KERNEL_LOAD_PHYS);
    uint64_t end = MIN(ALIGN_DOWN(region->end, PAGE_SIZE), (uint64_t)DIRECT_MAP_LIMIT);
    for (uint64_t pa = start; pa < end; pa += PAGE_SIZE) {
      vaddr_t va = (vaddr_t)P2V((paddr_t)pa);
      uint32_t flags = kernel_page_flags(va);
      if (flags == PAGE_ACCESSED) continue; /* the guard page */
      map_kernel_page(va, (paddr_t)pa, flags);
    }
  }

  if (vmm_mode == VMM_PAE) switch_to_pae();
  else switch_legacy();
  if (global_flag) write_cr4(read_cr4() | CR4_PGE);
  trap_set_double_fault_cr3(directory_phys(&kernel_page_directory));
  char pdpt[32] = "";
  if (vmm_mode == VMM_PAE)
    ksnprintf(pdpt, sizeof(pdpt), "kernel_pdpt=%p ",
              (void *)directory_phys(&kernel_page_directory));
  krecord("VMM mode=%s requested=%s pae=%s nx=%s %skernel_pd=%p tables=%u direct_map_end=%p "
          "global=%d\n",
          vmm_mode == VMM_PAE ? "pae" : "legacy", paging_options[requested],
          feature_state(cpu_features.pae, vmm_mode == VMM_PAE),
          feature_state(cpu_features.nx, nx_enabled), pdpt,
          (void *)(vmm_mode == VMM_PAE ? kernel_pae_pd
                                        : directory_phys(&kernel_page_directory)),
          kernel_table_count, (void *)(KERNEL_BASE + DIRECT_MAP_LIMIT), global_flag != 0);
}

/* -- the tables an AP turns paging on with (kernel/smp.c) ----------------- */

int vmm_boot_tables_build(paddr_t identity, struct vmm_boot_tables *t) {
  ASSERT(PGOFF(identity) == 0 && identity < LARGE_PAGE_SIZE);
  *t = (struct vmm_boot_tables){0};
  for (uint32_t i = 0; i < ARRAY_SIZE(t->frames); i++) {
    t->frames[i] = alloc_kernel_frame();
    if (!t->frames[i]) {
      vmm_boot_tables_free(t);
      return -ENOMEM;
    }
  }
  if (vmm_mode == VMM_PAE) {
    /* PDPT entry 0 for the identity page (executable: no NX bit), entry 3 the
     * kernel's page directory, as in every address space. */
    pae_entry_t *pdpt = P2V(t->frames[0]), *pd = P2V(t->frames[1]), *pt = P2V(t->frames[2]);
    pdpt[0] = t->frames[1] | PAGE_PRESENT;
    pdpt[PAE_USER_DIRS] = kernel_pae_pd | PAGE_PRESENT;
    pd[PAE_PDX(identity)] = t->frames[2] | PAGE_PRESENT | PAGE_WRITE;
    pt[PAE_PTX(identity)] = identity | PAGE_PRESENT | PAGE_WRITE;
  } else {
    /* The kernel PDEs point at tables that never change: the copy stays true. */
    page_directory_t *dir = P2V(t->frames[0]);
    pte_t *pt = P2V(t->frames[2]);
    for (uint32_t i = KERNEL_PDE_FIRST; i < ENTRIES_PER_TABLE; i++)
      dir->entries[i] = kernel_page_directory.entries[i];
    dir->entries[PDX(identity)] = t->frames[2] | PAGE_PRESENT | PAGE_WRITE;
    pt[PTX(identity)] = identity | PAGE_PRESENT | PAGE_WRITE;
  }
  t->cr3 = t->frames[0];
  return 0;
}

void vmm_boot_tables_free(struct vmm_boot_tables *t) {
  for (uint32_t i = 0; i < ARRAY_SIZE(t->frames); i++)
    if (t->frames[i]) free_page((void *)t->frames[i]);
  *t = (struct vmm_boot_tables){0};
}

/* -- fork: copying a user half ---------------------------------------------- */

/* Bytes of address space one page table maps (legacy 4 MiB, PAE 2 MiB). */
static inline uint32_t table_span(void) { return table_entries() * PAGE_SIZE; }

/* What one fork's walk has done so far (kept in locals, added up once).
 * The common page (owned, COW-marked) bumps only `pages`: the rarer kinds
 * are counted instead, and references and COW marks are derived at the end
 * (refs = pages - unowned, cow = refs - plain), two additions a page fewer. */
struct fork_tally {
  uint32_t pages, shared, write_protected, swapped;
  uint32_t unowned; /* present or protnone entries without PAGE_OWNED */
  uint32_t plain;   /* owned pages not COW-marked (shared range, or read-only) */
};

/* Copies entries [first, last) of the page table at from into the one at to
 * (see vmm_fork_range).  Always inlined with constant pae and shared, so each
 * of the four loops is straight-line code: this runs for every page a fork
 * copies.  A frame's reference is taken directly in the frame table: the
 * frame is mapped here, so it is inside the table, and its count cannot
 * overflow (one mapping per process per page, PROC_MAX processes, far below
 * FRAME_REFS_MAX).  Only the low half of an entry changes (PAGE_WRITE and
 * PAGE_COW live there), one atomic store, so a live PAE entry is never seen
 * half written. */
static inline __attribute__((always_inline)) void fork_entries(void *from, void *to,
                                                              uint32_t first, uint32_t last,
                                                              bool pae, bool shared,
                                                              struct fork_tally *t) {
  /* Walked by pointer, dst at a fixed distance from src: one induction
   * variable instead of an index and two addresses (PAE ran out of
   * registers and spilled the bound). */
  uint32_t step = pae ? 2 : 1;
  volatile uint32_t *src = (volatile uint32_t *)from + first * step;
  volatile uint32_t *const end = (volatile uint32_t *)from + last * step;
  const int32_t to_dst = (volatile uint32_t *)to - (volatile uint32_t *)from;
  for (; src != end; src += step) {
    volatile uint32_t *dst = src + to_dst;
    uint32_t low = src[0];
    /* Present or PAGE_PROTNONE: an empty entry has neither bit, a present one
     * never has PAGE_PROTNONE's G (user pages are not global), so one test
     * serves both, as cheap as the present test alone. */
    if (!(low & (PAGE_PRESENT | PAGE_PROTNONE))) {
      if (low & PAGE_SWAP) { /* a swap entry: one more reference on its slot */
        swap_dup(low >> PAGE_SHIFT);
        /* Private: copy-on-write in both once swapped in (the swap cache
         * gives both the same frame).  The clock never swaps out a page of
         * a shared range, so `shared` never meets one. */
        if (low & PAGE_WRITE) {
          low = (low & ~PAGE_WRITE) | PAGE_COW;
          src[0] = low; /* not present: nothing cached to flush */
        }
        if (pae) dst[1] = src[1];
        dst[0] = low;
        t->swapped++;
      }
      continue;
    }
    t->pages++;
    /* The high word (NX, frame bits above 4 GiB) never changes here: read
     * once, for the frame number and for the copy. */
    uint32_t high = pae ? src[1] : 0;
    if (low & PAGE_OWNED) {
      pfn_t pfn = low >> PAGE_SHIFT;
      if (pae) pfn |= (high & (uint32_t)(PAE_FRAME_MASK >> 32)) << 20;
      struct frame_info *f = &frame_table[pfn];
      f->refs++;
      /* A protnone page of a private range is COW-marked too, for when its
       * rights come back (mprotect gives it PAGE_COW while refs > 1). */
      if (!shared && (low & (PAGE_WRITE | PAGE_COW | PAGE_PROTNONE))) {
        f->flags |= FRAME_COW;
        if (!(low & PAGE_COW)) { /* writable, or protnone without the mark */
          low = (low & ~PAGE_WRITE) | PAGE_COW;
          src[0] = low;
          t->write_protected++;
        }
      } else {
        t->plain++;
        if (low & PAGE_WRITE) t->shared++;
      }
    } else {
      t->unowned++;
    }
    if (pae) dst[1] = high; /* dst is not live: any order will do */
    dst[0] = low & ~(PAGE_ACCESSED | PAGE_DIRTY);
  }
}

/* The page table under user PDE number g of dir (g counts PDEs in address
 * order: legacy 4 MiB each, PAE 2 MiB each across the three user page
 * directories), or 0 when there is none. */
static inline __attribute__((always_inline)) paddr_t user_table(const page_directory_t *dir,
                                                               uint32_t g, bool pae) {
  uint64_t pde;
  if (pae) pde = ((const pae_entry_t *)P2V(entry_addr(pdpt_of(dir)[g >> 9])))[g & 511];
  else pde = dir->entries[g];
  if (!(pde & PAGE_PRESENT) || (pde & PAGE_PS)) return 0;
  return (paddr_t)(pde & PAGE_FRAME_MASK); /* page tables lie below 4 GiB */
}

static inline __attribute__((always_inline)) void fork_walk(page_directory_t *src,
                                                           page_directory_t *dst,
                                                           vaddr_t start, vaddr_t end,
                                                           bool pae, bool shared,
                                                           struct fork_tally *t) {
  uint32_t shift = pae ? 21 : 22, per_table = pae ? 512 : 1024;
  uint32_t first_g = start >> shift, last_g = (end - 1) >> shift;
  for (uint32_t g = first_g; g <= last_g; g++) {
    paddr_t from = user_table(src, g, pae);
    if (!from) continue;
    uint32_t first = g == first_g ? (start >> PAGE_SHIFT) & (per_table - 1) : 0;
    uint32_t last = g == last_g ? ((end - 1) >> PAGE_SHIFT & (per_table - 1)) + 1 : per_table;
    /* vmm_fork_prepare gave dst a table wherever src has one. */
    fork_entries(P2V(from), P2V(user_table(dst, g, pae)), first, last, pae, shared, t);
  }
}

/* The PDE of user PDE number g (see user_table). */
static inline __attribute__((always_inline)) void *user_pde(page_directory_t *dir, uint32_t g,
                                                           bool pae) {
  if (pae) return (pae_entry_t *)P2V(entry_addr(pdpt_of(dir)[g >> 9])) + (g & 511);
  return &dir->entries[g];
}

static inline __attribute__((always_inline)) int fork_prepare(page_directory_t *src,
                                                             page_directory_t *dst,
                                                             uint32_t first_g, uint32_t last_g,
                                                             bool pae) {
  for (uint32_t g = first_g; g <= last_g; g++)
    if (user_table(src, g, pae) && !user_table(dst, g, pae) && !add_user_table(user_pde(dst, g, pae)))
      return -ENOMEM;
  return 0;
}

/* Clips [start, end) to the user half; false when nothing is left. */
static bool user_span(vaddr_t *start, vaddr_t *end) {
  *start = ALIGN_DOWN(*start, PAGE_SIZE);
  if (*end > KERNEL_BASE || *end == 0) *end = KERNEL_BASE;
  return *start < *end;
}

int vmm_fork_prepare(page_directory_t *src, page_directory_t *dst, vaddr_t start, vaddr_t end) {
  if (!user_span(&start, &end)) return 0;
  if (vmm_mode == VMM_PAE) return fork_prepare(src, dst, start >> 21, (end - 1) >> 21, true);
  return fork_prepare(src, dst, start >> 22, (end - 1) >> 22, false);
}

void vmm_fork_range(page_directory_t *src, page_directory_t *dst, vaddr_t start, vaddr_t end,
                    bool shared, struct vmm_fork_counts *counts) {
  if (!user_span(&start, &end)) return;
  struct fork_tally t = {0};
  if (vmm_mode == VMM_PAE) {
    if (shared) fork_walk(src, dst, start, end, true, true, &t);
    else fork_walk(src, dst, start, end, true, false, &t);
  } else {
    if (shared) fork_walk(src, dst, start, end, false, true, &t);
    else fork_walk(src, dst, start, end, false, false, &t);
  }
  uint32_t refs = t.pages - t.unowned;
  counts->pages += t.pages;
  counts->shared += t.shared;
  counts->cow += refs - t.plain;
  counts->write_protected += t.write_protected;
  counts->swapped += t.swapped;
  frame_stats.refs_taken += refs;
  vmm_stats.maps += t.pages;
}

int vmm_remap_pfn(page_directory_t *dir, vaddr_t va, pfn_t pfn, uint32_t flags) {
  vaddr_t caller = CALLER();
  const char *problem = flags_problem(flags, va);
  if (problem) return refuse(-EINVAL, problem, "remap", va, 0, flags, caller);
  void *pte = find_pte(dir, va);
  if (!pte || !(entry_get(pte) & PAGE_PRESENT))
    return refuse(-ENOENT, "not-mapped", "remap", va, 0, flags, caller);
  if ((flags & PAGE_OWNED) && frame_ref(pfn) != 0)
    return refuse(-EINVAL, "bad-frame", "remap", va, 0, flags, caller);
  uint64_t old = entry_get(pte);
  entry_set(pte, leaf_entry(va, pfn_addr(pfn), flags));
  flush_removed(dir, va);
  if (old & PAGE_OWNED) frame_unref(entry_pfn(old));
  vmm_stats.protects++;
  return 0;
}

/* -- swap entries (mm/swap.c) ----------------------------------------------- */

/* The user PTE at va in dir, or NULL (no page table, or a kernel address). */
static void *user_pte(page_directory_t *dir, vaddr_t va) {
  return va < KERNEL_BASE ? find_pte(dir, va) : NULL;
}

bool vmm_table_present(page_directory_t *dir, vaddr_t va) { return user_pte(dir, va) != NULL; }

int vmm_drop_user(page_directory_t *dir, vaddr_t va) {
  void *pte = user_pte(dir, va);
  uint64_t e = pte ? entry_get(pte) : 0;
  if (!(e & (PAGE_PRESENT | PAGE_PROTNONE | PAGE_SWAP))) return 0;
  unmap_at(dir, va, NULL, CALLER());
  return is_swap(e) ? VMM_DROPPED_SLOT : VMM_DROPPED_PAGE;
}

int vmm_lookup_swap(page_directory_t *dir, vaddr_t va, uint32_t *slot, uint32_t *flags) {
  void *pte = user_pte(dir, va);
  uint64_t e = pte ? entry_get(pte) : 0;
  if (!is_swap(e)) return -ENOENT;
  if (slot) *slot = swap_slot_of(e);
  /* PAGE_EXEC only where NX could take it away: map refuses a writable
   * user page with PAGE_EXEC, and without NX every page executes anyway. */
  if (flags)
    *flags = ((uint32_t)e & (PAGE_USER | PAGE_WRITE | PAGE_COW)) |
             (nx_enabled && !(e & PAE_NX) ? PAGE_EXEC : 0);
  return 0;
}

int vmm_swap_out(page_directory_t *dir, vaddr_t va, uint32_t slot) {
  void *pte = user_pte(dir, va);
  uint64_t e = pte ? entry_get(pte) : 0;
  if ((e & (PAGE_PRESENT | PAGE_OWNED | PAGE_USER)) != (PAGE_PRESENT | PAGE_OWNED | PAGE_USER) ||
      slot == 0 || slot >= SWAP_SLOTS_LIMIT)
    return refuse(-EINVAL, "not-swappable", "swap-out", va, 0, (uint32_t)e & 0xFFF, CALLER());
  /* Rights stay (and NX in the high half); P, OWNED, A, D and the frame go.
   * entry_set clears P first. */
  uint64_t rights = (e & (PAGE_USER | PAGE_WRITE | PAGE_COW)) | (e & PAE_NX);
  entry_set(pte, (uint64_t)slot << PAGE_SHIFT | PAGE_SWAP | rights);
  flush_removed(dir, va);
  frame_unref(entry_pfn(e)); /* the caller holds its own reference while it writes */
  vmm_stats.unmaps++;
  return 0;
}

int vmm_swap_in(page_directory_t *dir, vaddr_t va, pfn_t pfn, uint32_t flags) {
  void *pte = user_pte(dir, va);
  uint64_t e = pte ? entry_get(pte) : 0;
  if (!is_swap(e)) return refuse(-ENOENT, "not-swapped", "swap-in", va, 0, flags, CALLER());
  const char *problem = flags_problem(flags, va);
  if (problem) return refuse(-EINVAL, problem, "swap-in", va, 0, flags, CALLER());
  if ((flags & PAGE_OWNED) && frame_ref(pfn) != 0)
    return refuse(-EINVAL, "bad-frame", "swap-in", va, 0, flags, CALLER());
  entry_set(pte, leaf_entry(va, pfn_addr(pfn), flags));
  flush(dir, va);
  vmm_stats.maps++;
  return 0;
}

int vmm_swap_protect(page_directory_t *dir, vaddr_t va, uint32_t flags) {
  void *pte = user_pte(dir, va);
  uint64_t e = pte ? entry_get(pte) : 0;
  if (!is_swap(e)) return -ENOENT;
  uint64_t kept = e & (PAE_FRAME_MASK | PAGE_SWAP | PAGE_USER);
  uint64_t rights = (flags & (PAGE_WRITE | PAGE_COW)) | (flags & PAGE_EXEC ? 0 : nx_bit);
  entry_set(pte, kept | rights);
  return 0;
}

bool vmm_clear_accessed(page_directory_t *dir, vaddr_t va) {
  void *pte = user_pte(dir, va);
  if (!pte) return false;
  uint64_t e = entry_get(pte);
  if ((e & (PAGE_PRESENT | PAGE_ACCESSED)) != (PAGE_PRESENT | PAGE_ACCESSED)) return false;
  /* The low half only, one store: the CPU's own A/D updates are atomic and
   * nothing else runs (one CPU, interrupts off). */
  *(volatile uint32_t *)pte = (uint32_t)e & ~PAGE_ACCESSED;
  flush(dir, va);
  return true;
}
