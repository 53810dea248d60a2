/* Page directories and page tables.  arch/i386/paging.h has the formats;
 * this file decides what is mapped where. */
#include "mm/vmm.h"
#include "arch/i386/cpu.h"
#include "kernel/bootinfo.h"
#include "kernel/cpufeatures.h"
#include "kernel/errno.h"
#include "kernel/kprintf.h"
#include "kernel/panic.h"
#include "arch/i386/multiboot.h"
#include "lib/string.h"
#include "memlayout.h"
#include "mm/pmm.h"

#define KERNEL_PDE_FIRST PDX(KERNEL_BASE) /* 768 */
#define KERNEL_TABLES (ENTRIES_PER_TABLE - KERNEL_PDE_FIRST)
#define KMAP_SLOTS 4

page_directory_t *current_directory = &kernel_page_directory;
struct vmm_stats vmm_stats;

/* Physical addresses of the kernel's page tables, PDE 768 upwards.  Kernel
 * half lookups use these directly: the PDEs are the same in every directory. */
static paddr_t kernel_tables[KERNEL_TABLES];
static uint32_t global_flag; /* PAGE_GLOBAL when the CPU has PGE */
static bool kmap_busy[KMAP_SLOTS];

void trap_set_double_fault_cr3(paddr_t cr3);

paddr_t directory_phys(const page_directory_t *dir) { return V2P(dir); }

paddr_t alloc_kernel_frame(void) {
  paddr_t pa = (paddr_t)allocate_page();
  if (!pa) return 0;
  if (pa >= DIRECT_MAP_LIMIT) { /* lowest-first: low memory is exhausted */
    free_page((void *)pa);
    return 0;
  }
  memset(P2V(pa), 0, PAGE_SIZE);
  return pa;
}

static void flush(page_directory_t *dir, vaddr_t va) {
  /* The kernel half is shared by every directory, so it is always live. */
  if (dir == current_directory || va >= KERNEL_BASE) {
    invlpg(va);
    vmm_stats.tlb_flushes++;
  }
}

static int refuse(int err, const char *kind, const char *op, vaddr_t va, paddr_t pa,
                  uint32_t flags, vaddr_t caller) {
  vmm_stats.errors++;
  vmm_stats.last_error_caller = caller;
  krecord("VMM error=%s op=%s va=%p pa=%p flags=0x%x caller=%p\n", kind, op, (void *)va,
          (void *)pa, flags, (void *)caller);
  return err;
}

/* The PTE for va in dir, or NULL when its page table is absent. */
static pte_t *find_pte(page_directory_t *dir, vaddr_t va) {
  pde_t pde = dir->entries[PDX(va)];
  if (!(pde & PAGE_PRESENT) || (pde & PAGE_PS)) return NULL;
  return (pte_t *)P2V(PTE_ADDR(pde)) + PTX(va);
}

static int check_flags(uint32_t flags, vaddr_t va) {
  if (flags & ~PAGE_MAP_FLAGS) return -EINVAL;
  if ((flags & PAGE_USER) && va >= KERNEL_BASE) return -EINVAL;
  return 0;
}

static int map_at(page_directory_t *dir, vaddr_t va, paddr_t pa, uint32_t flags,
                  vaddr_t caller) {
  if (!IS_ALIGNED(va, PAGE_SIZE) || !IS_ALIGNED(pa, PAGE_SIZE))
    return refuse(-EINVAL, "unaligned", "map", va, pa, flags, caller);
  if (check_flags(flags, va))
    return refuse(-EINVAL, (flags & PAGE_USER) && va >= KERNEL_BASE ? "user-in-kernel-space"
                                                                     : "bad-flags",
                  "map", va, pa, flags, caller);
  pde_t *pde = &dir->entries[PDX(va)];
  if (!(*pde & PAGE_PRESENT)) {
    paddr_t table = alloc_kernel_frame(); /* kernel tables are preallocated */
    if (!table) return refuse(-ENOMEM, "no-frame-for-table", "map", va, pa, flags, caller);
    /* User rights live in the PTEs; the PDE allows everything they allow. */
    *pde = table | PAGE_PRESENT | PAGE_WRITE | PAGE_USER;
    vmm_stats.user_page_tables++;
  }
  pte_t *pte = (pte_t *)P2V(PTE_ADDR(*pde)) + PTX(va);
  if (*pte & PAGE_PRESENT) return refuse(-EEXIST, "exists", "map", va, pa, flags, caller);
  if (va >= KERNEL_BASE) flags |= global_flag;
  *pte = pa | flags | PAGE_PRESENT;
  flush(dir, va); /* a not-present entry is never cached, but a racing walk may be */
  vmm_stats.maps++;
  return 0;
}

int vmm_map(page_directory_t *dir, vaddr_t va, paddr_t pa, uint32_t flags) {
  return map_at(dir, va, pa, flags, CALLER());
}

int map_page(uint32_t virtual, uint32_t physical, uint32_t flags) {
  return map_at(current_directory, virtual, physical, flags, CALLER());
}

static int unmap_at(page_directory_t *dir, vaddr_t va, paddr_t *old, vaddr_t caller) {
  if (!IS_ALIGNED(va, PAGE_SIZE)) return refuse(-EINVAL, "unaligned", "unmap", va, 0, 0, caller);
  pte_t *pte = find_pte(dir, va);
  if (!pte || !(*pte & PAGE_PRESENT))
    return refuse(-ENOENT, "not-mapped", "unmap", va, 0, 0, caller);
  pte_t entry = *pte;
  *pte = 0;
  flush(dir, va);
  if (old) *old = PTE_ADDR(entry);
  if (entry & PAGE_OWNED) free_page((void *)PTE_ADDR(entry));
  vmm_stats.unmaps++;
  return 0;
}

int vmm_unmap(page_directory_t *dir, vaddr_t va, paddr_t *old) {
  return unmap_at(dir, va, old, CALLER());
}

int unmap_page(uint32_t virtual) { return unmap_at(current_directory, virtual, NULL, CALLER()); }

int vmm_lookup(page_directory_t *dir, vaddr_t va, paddr_t *pa, uint32_t *flags) {
  pde_t pde = dir->entries[PDX(va)];
  if ((pde & PAGE_PRESENT) && (pde & PAGE_PS)) {
    if (pa) *pa = (pde & ~(LARGE_PAGE_SIZE - 1)) | (va & (LARGE_PAGE_SIZE - 1) & PAGE_FRAME_MASK);
    if (flags) *flags = PTE_FLAGS(pde);
    return 0;
  }
  pte_t *pte = find_pte(dir, va);
  if (!pte || !(*pte & PAGE_PRESENT)) return -ENOENT;
  if (pa) *pa = PTE_ADDR(*pte);
  if (flags) *flags = PTE_FLAGS(*pte);
  return 0;
}

int vmm_protect(page_directory_t *dir, vaddr_t va, uint32_t flags) {
  vaddr_t caller = CALLER();
  if (!IS_ALIGNED(va, PAGE_SIZE))
    return refuse(-EINVAL, "unaligned", "protect", va, 0, flags, caller);
  if (check_flags(flags, va)) return refuse(-EINVAL, "bad-flags", "protect", va, 0, flags, caller);
  pte_t *pte = find_pte(dir, va);
  if (!pte || !(*pte & PAGE_PRESENT))
    return refuse(-ENOENT, "not-mapped", "protect", va, 0, flags, caller);
  if (va >= KERNEL_BASE) flags |= global_flag;
  *pte = PTE_ADDR(*pte) | flags | PAGE_PRESENT;
  flush(dir, va);
  vmm_stats.protects++;
  return 0;
}

pte_t *get_page_table(uint32_t pd_index, bool create) {
  if (pd_index >= ENTRIES_PER_TABLE) return NULL;
  pde_t *pde = &current_directory->entries[pd_index];
  if (!(*pde & PAGE_PRESENT)) {
    if (!create) return NULL;
    paddr_t table = alloc_kernel_frame();
    if (!table) return NULL;
    *pde = table | PAGE_PRESENT | PAGE_WRITE | PAGE_USER;
    vmm_stats.user_page_tables++;
  }
  if (*pde & PAGE_PS) return NULL;
  return P2V(PTE_ADDR(*pde));
}

/* -- directories ---------------------------------------------------------- */

page_directory_t *create_page_directory(void) {
  paddr_t pa = alloc_kernel_frame();
  if (!pa) return NULL;
  page_directory_t *dir = P2V(pa);
  memcpy(&dir->entries[KERNEL_PDE_FIRST], &kernel_page_directory.entries[KERNEL_PDE_FIRST],
         KERNEL_TABLES * sizeof(pde_t));
  vmm_stats.directories++;
  return dir;
}

void destroy_page_directory(page_directory_t *dir) {
  if (dir == &kernel_page_directory || dir == current_directory) {
    refuse(0, dir == &kernel_page_directory ? "destroy-kernel" : "destroy-current", "destroy",
           (vaddr_t)dir, 0, 0, CALLER());
    return;
  }
  for (uint32_t i = 0; i < KERNEL_PDE_FIRST; i++) {
    pde_t pde = dir->entries[i];
    if (!(pde & PAGE_PRESENT)) continue;
    pte_t *table = P2V(PTE_ADDR(pde));
    for (uint32_t j = 0; j < ENTRIES_PER_TABLE; j++)
      if ((table[j] & PAGE_PRESENT) && (table[j] & PAGE_OWNED))
        free_page((void *)PTE_ADDR(table[j]));
    free_page((void *)PTE_ADDR(pde));
    vmm_stats.user_page_tables--;
  }
  free_page((void *)directory_phys(dir));
  vmm_stats.directories--;
}

void switch_page_directory(page_directory_t *dir) {
  current_directory = dir;
  write_cr3(directory_phys(dir));
  vmm_stats.cr3_loads++;
}

/* -- temporary mappings ----------------------------------------------------- */

static pte_t *kmap_pte(uint32_t slot) {
  vaddr_t va = KMAP_BASE + slot * PAGE_SIZE;
  return (pte_t *)P2V(kernel_tables[PDX(va) - KERNEL_PDE_FIRST]) + PTX(va);
}

void *kmap(paddr_t pa) {
  if (pa < DIRECT_MAP_LIMIT) return P2V(pa);
  for (uint32_t slot = 0; slot < KMAP_SLOTS; slot++) {
    if (kmap_busy[slot]) continue;
    kmap_busy[slot] = true;
    vaddr_t va = KMAP_BASE + slot * PAGE_SIZE;
    *kmap_pte(slot) = ALIGN_DOWN(pa, PAGE_SIZE) | PAGE_PRESENT | PAGE_WRITE;
    invlpg(va);
    return (void *)(va + PGOFF(pa));
  }
  PANIC("all %u kmap slots are in use", KMAP_SLOTS);
}

void kunmap(void *ptr) {
  vaddr_t va = ALIGN_DOWN((vaddr_t)ptr, PAGE_SIZE);
  if (va < KMAP_BASE) return; /* a direct-map pointer */
  uint32_t slot = (va - KMAP_BASE) / PAGE_SIZE;
  ASSERT(slot < KMAP_SLOTS && kmap_busy[slot]);
  *kmap_pte(slot) = 0;
  invlpg(va);
  kmap_busy[slot] = false;
}

/* -- the kernel's own tables --------------------------------------------- */

static void map_kernel_page(vaddr_t va, paddr_t pa, uint32_t flags) {
  pte_t *table = P2V(kernel_tables[PDX(va) - KERNEL_PDE_FIRST]);
  table[PTX(va)] = pa | flags | PAGE_PRESENT | global_flag;
}

/* Permissions for a direct-map page: least privilege for the kernel image,
 * no mapping for the boot stack's guard page, read-write for other RAM. */
static uint32_t kernel_page_flags(vaddr_t va) {
  if (va >= (vaddr_t)__text_start && va < (vaddr_t)__rodata_end) return 0; /* read-only */
  if (va >= (vaddr_t)boot_stack_guard && va < (vaddr_t)boot_stack_bottom) return PAGE_ACCESSED;
  return PAGE_WRITE;
}

void vmm_init(void) {
  if (cpu_features.pge) global_flag = PAGE_GLOBAL;
  for (uint32_t i = 0; i < KERNEL_TABLES; i++) {
    kernel_tables[i] = alloc_kernel_frame();
    if (!kernel_tables[i]) PANIC("out of memory for kernel page tables");
    if (kernel_tables[i] >= BOOT_MAPPED_LIMIT)
      PANIC("kernel page table at %p is beyond the boot mapping", (void *)kernel_tables[i]);
  }

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

  /* Switch the live directory over: kernel PDEs to the new tables, the boot
   * identity map gone.  Each PDE changes atomically and the new tables map
   * the running code the same way as the boot tables did. */
  for (uint32_t i = 0; i < KERNEL_TABLES; i++)
    kernel_page_directory.entries[KERNEL_PDE_FIRST + i] = kernel_tables[i] | PAGE_PRESENT |
                                                          PAGE_WRITE;
  for (uint32_t i = 0; i < KERNEL_PDE_FIRST; i++) kernel_page_directory.entries[i] = 0;
  switch_page_directory(&kernel_page_directory);
  if (global_flag) write_cr4(read_cr4() | CR4_PGE);
  trap_set_double_fault_cr3(directory_phys(&kernel_page_directory));
  krecord("VMM kernel_pd=%p tables=%u direct_map_end=%p global=%d\n",
          (void *)directory_phys(&kernel_page_directory), KERNEL_TABLES,
          (void *)(KERNEL_BASE + DIRECT_MAP_LIMIT), global_flag != 0);
}
