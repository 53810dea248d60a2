/* The virtual memory manager: two-level i386 paging, 4 KiB pages.
 *
 * Every page directory shares the kernel half (0xC0000000 and up): the kernel
 * preallocates all 256 kernel page tables at boot and every directory's PDEs
 * 768-1023 point at them, so a kernel mapping made once is seen everywhere and
 * those PDEs never change.  The user half of each directory is its own.
 *
 * Seed API, kept: create/destroy_page_directory, map_page, unmap_page,
 * switch_page_directory, get_page_table.  map_page and unmap_page act on the
 * current directory; the vmm_* functions take a directory.  Functions that can
 * fail return 0 or a negative errno (the seed's 1/0 could not say why).
 *
 * Bad input (an unaligned address, a mapping that already exists, unmapping
 * what is not mapped, PAGE_USER in kernel space, flags that are not page
 * flags) is refused with -EINVAL/-EEXIST/-ENOENT and one record
 *   VMM error=<kind> op=<op> va=<hex> pa=<hex> flags=<hex> caller=<hex>
 * and nothing changes.  Out of frames for a page table: -ENOMEM, nothing
 * changes. */
#pragma once

#include "arch/i386/paging.h"
#include "types.h"

/* Available-to-software PTE bit: the directory owns the frame, so unmapping or
 * destroying the directory frees it.  Frames mapped without it (shared memory,
 * the kernel image, MMIO) belong to someone else. */
#define PAGE_OWNED 0x200u

/* Flags a caller may pass to map/protect. */
#define PAGE_MAP_FLAGS (PAGE_PRESENT | PAGE_WRITE | PAGE_USER | PAGE_PWT | PAGE_PCD | \
                        PAGE_GLOBAL | PAGE_OWNED)

typedef struct page_directory {
  pde_t entries[ENTRIES_PER_TABLE];
} page_directory_t;
_Static_assert(sizeof(page_directory_t) == PAGE_SIZE, "a page directory is one page");

extern page_directory_t kernel_page_directory; /* in .bss, set up by boot.S */
extern page_directory_t *current_directory;

struct vmm_stats {
  uint32_t directories;        /* live directories besides the kernel's */
  uint32_t user_page_tables;   /* live page tables in user halves */
  uint32_t maps, unmaps, protects;
  uint32_t tlb_flushes;        /* invlpg executed */
  uint32_t cr3_loads;
  uint32_t errors;             /* refused calls, all kinds */
  vaddr_t last_error_caller;
};
extern struct vmm_stats vmm_stats;

/* Builds the kernel's tables (drops the boot identity map, maps the kernel
 * image with least privilege) and switches to them. */
void vmm_init(void);

/* A new directory with an empty user half, or NULL when out of frames. */
page_directory_t *create_page_directory(void);
/* Frees every user page table and every frame mapped with PAGE_OWNED.  The
 * directory must not be current; the kernel's is refused. */
void destroy_page_directory(page_directory_t *dir);
void switch_page_directory(page_directory_t *dir);
paddr_t directory_phys(const page_directory_t *dir);

int map_page(uint32_t virtual, uint32_t physical, uint32_t flags);
int unmap_page(uint32_t virtual);
/* The page table for PDE pd_index of the current directory (kernel virtual
 * address), creating it when `create`; NULL if absent or out of frames. */
pte_t *get_page_table(uint32_t pd_index, bool create);

int vmm_map(page_directory_t *dir, vaddr_t va, paddr_t pa, uint32_t flags);
/* Unmaps va; frees the frame if it was PAGE_OWNED.  *old (if not NULL) gets
 * the frame that was mapped. */
int vmm_unmap(page_directory_t *dir, vaddr_t va, paddr_t *old);
/* The frame and flags mapped at va: 0, or -ENOENT when not mapped. */
int vmm_lookup(page_directory_t *dir, vaddr_t va, paddr_t *pa, uint32_t *flags);
/* Replaces the flags of an existing mapping (the frame stays). */
int vmm_protect(page_directory_t *dir, vaddr_t va, uint32_t flags);

/* A kernel pointer to physical frame pa: the direct map when it covers pa,
 * else a temporary window (one at a time; release it with kunmap). */
void *kmap(paddr_t pa);
void kunmap(void *va);

/* A zeroed frame the kernel can reach through the direct map (page tables,
 * directories, kernel stacks), or 0 when low memory is exhausted. */
paddr_t alloc_kernel_frame(void);
