/* The virtual memory manager: 4 KiB pages in one of two paging modes, chosen
 * at boot (`paging=auto|legacy|pae`, default auto: PAE when the CPU has it):
 *
 *   legacy  the seed's two-level 32-bit paging.  A page_directory_t is the
 *           page directory CR3 points at.  Every page is executable.
 *   pae     three levels, 64-bit entries (arch/i386/paging.h).  A
 *           page_directory_t is the page whose first 32 bytes are the PDPT
 *           CR3 points at; its three user page directories (PDPT entries 0-2)
 *           are allocated with it, so PDPT entries never change while it is
 *           live.  With NX (EFER.NXE, when the CPU has it) a page without
 *           PAGE_EXEC cannot be executed.
 *
 * Every address space shares the kernel half (0xC0000000 and up): the kernel
 * preallocates all its page tables at boot (legacy: 256, PDEs 768-1023 of
 * every directory point at them; pae: 512, in one kernel page directory that
 * is PDPT entry 3 of every address space), so a kernel mapping made once is
 * seen everywhere and those entries never change.  The user half is each
 * address space's own.
 *
 * W^X: a user mapping may not be both writable and executable (map and
 * protect refuse PAGE_USER|PAGE_WRITE|PAGE_EXEC, kind write-and-exec), in
 * both modes, so a program behaves the same in either.
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

/* Available-to-software PTE bit: the mapping holds a reference on the frame
 * (mm/frame.h), taken by map and dropped by unmap or by destroying the
 * directory; the frame is freed when its last reference goes.  Frames mapped
 * without it (the kernel image, MMIO, kmap windows) belong to someone else. */
#define PAGE_OWNED 0x200u

/* Available-to-software PTE bit, stored in the entry: the page is private but
 * its frame may be shared (after fork); it is read-only, and a write fault
 * copies it, or takes it back when this is its last reference.  Never
 * together with PAGE_WRITE (map and protect refuse it: write-and-cow). */
#define PAGE_COW 0x800u

/* Software bit of a NOT-present entry (bit 8; the CPU ignores every bit of
 * an entry whose P is clear, and bit 8 is G only in a present one): a
 * PROT_NONE page that keeps its frame, as Linux's PROT_NONE PTEs do.  Such
 * an entry is frame | PAGE_PROTNONE | PAGE_USER | PAGE_OWNED [| PAGE_COW],
 * without PAGE_PRESENT or PAGE_WRITE: every access faults (user and kernel
 * alike), but the frame, its reference and the COW mark stay.  vmm_protnone
 * makes one from a present owned entry; vmm_protect gives it rights again;
 * vmm_unmap and destroying the directory drop its reference; vmm_lookup and
 * vmm_lookup_pfn say -ENOENT for it (it maps nothing), vmm_lookup_kept
 * finds it; vmm_map over it is refused (exists); fork copies it (one more
 * reference; in a private range it becomes PAGE_COW in both). */
#define PAGE_PROTNONE 0x100u

/* Software bit of a NOT-present entry (bit 7; PS/PAT only in a present one):
 * the page is in swap (mm/swap.h).  Such an entry is
 *   slot << PAGE_SHIFT | PAGE_SWAP | PAGE_USER [| PAGE_WRITE] [| PAGE_COW] [| NX]
 * without PAGE_PRESENT or PAGE_OWNED: the bits other than P and the frame keep
 * the rights the page gets back when the fault path swaps it in. */
#define PAGE_SWAP 0x080u

/* Software flag, never stored in an entry: the page may be executed.  map
 * and protect set NX in a PAE entry without it (when NX is on); lookup
 * reports it whenever the hardware would let the page execute (always in
 * legacy mode, or without NX). */
#define PAGE_EXEC 0x400u

/* Flags a caller may pass to map/protect. */
#define PAGE_MAP_FLAGS (PAGE_PRESENT | PAGE_WRITE | PAGE_USER | PAGE_PWT | PAGE_PCD | \
                        PAGE_GLOBAL | PAGE_OWNED | PAGE_COW | PAGE_EXEC)

enum vmm_mode { VMM_LEGACY = 0, VMM_PAE = 1 };
extern uint32_t vmm_mode;    /* enum vmm_mode, set once by vmm_init */
extern uint32_t nx_enabled;  /* 1 when EFER.NXE is set (PAE mode only) */

typedef struct page_directory {
  pde_t entries[ENTRIES_PER_TABLE];
} page_directory_t;
_Static_assert(sizeof(page_directory_t) == PAGE_SIZE, "a page directory is one page");

extern page_directory_t kernel_page_directory; /* in .bss, set up by boot.S */
extern page_directory_t *current_directory;

struct vmm_stats {
  uint32_t directories;        /* live directories besides the kernel's (PAE: each is
                                  a PDPT page and three user page directories) */
  uint32_t user_page_tables;   /* live page tables in user halves */
  uint32_t maps, unmaps, protects;
  uint32_t tlb_flushes;        /* invlpg executed */
  uint32_t cr3_loads;
  uint32_t errors;             /* refused calls, all kinds */
  vaddr_t last_error_caller;
};
extern struct vmm_stats vmm_stats;

/* Picks the paging mode, builds the kernel's tables (drops the boot identity
 * map, maps the kernel image with least privilege: text read-only and
 * executable, everything else not executable when NX is on) and switches to
 * them.  One record:
 *   VMM mode=<legacy|pae> requested=<auto|legacy|pae> pae=<on|off|unavailable>
 *       nx=<on|off|unavailable> [kernel_pdpt=<hex>] kernel_pd=<hex> tables=<n>
 *       direct_map_end=<hex> global=<0|1>
 * pae/nx: on, off (the CPU has it, the mode does not use it), unavailable
 * (the CPU lacks it: paging=pae then falls back to legacy).  kernel_pd is the
 * page directory of the kernel half (legacy: also what CR3 holds);
 * kernel_pdpt, PAE only, is what CR3 holds for the kernel. */
void vmm_init(void);
/* The end of what the paging mode can map (legacy 4 GiB, PAE 64 GiB): the
 * PMM manages RAM below it.  Decides the mode if vmm_init has not yet. */
uint64_t vmm_phys_limit(void);

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
 * address), creating it when `create`; NULL if absent or out of frames.
 * Legacy: pd_index < 1024, a table of 1024 pte_t.  PAE: pd_index < 2048
 * counts the PDEs of all four page directories in address order, a table of
 * 512 pae_entry_t. */
void *get_page_table(uint32_t pd_index, bool create);

int vmm_map(page_directory_t *dir, vaddr_t va, paddr_t pa, uint32_t flags);
/* vmm_map by frame number, for frames that may lie above 4 GiB (PAE; in
 * legacy mode such a frame is refused, kind beyond-4g). */
int vmm_map_pfn(page_directory_t *dir, vaddr_t va, pfn_t pfn, uint32_t flags);
/* Unmaps va; frees the frame (by number, wherever it lies) if it was
 * PAGE_OWNED.  *old (if not NULL) gets the frame that was mapped. */
int vmm_unmap(page_directory_t *dir, vaddr_t va, paddr_t *old);
/* The frame and flags mapped at va: 0, or -ENOENT when not mapped; -EINVAL
 * when pa is asked for and the frame lies above 4 GiB (use vmm_lookup_pfn). */
int vmm_lookup(page_directory_t *dir, vaddr_t va, paddr_t *pa, uint32_t *flags);
int vmm_lookup_pfn(page_directory_t *dir, vaddr_t va, pfn_t *pfn, uint32_t *flags);
/* vmm_lookup_pfn that also finds a PAGE_PROTNONE entry: 0 with its frame and
 * flags PAGE_PROTNONE plus the entry's PAGE_USER, PAGE_OWNED and PAGE_COW
 * (no PAGE_PRESENT); -ENOENT when neither present nor protnone. */
int vmm_lookup_kept(page_directory_t *dir, vaddr_t va, pfn_t *pfn, uint32_t *flags);
/* Replaces the flags of an existing mapping, present or PAGE_PROTNONE (the
 * frame stays; the entry is present afterwards). */
int vmm_protect(page_directory_t *dir, vaddr_t va, uint32_t flags);
/* Turns the present, PAGE_OWNED user mapping at va into a PAGE_PROTNONE entry
 * (see above): the frame and its reference stay, every access faults.
 * -ENOENT when nothing is mapped, -EINVAL (kind not-owned) for a page
 * without PAGE_OWNED or PAGE_USER.  A protnone entry stays as it is (0). */
int vmm_protnone(page_directory_t *dir, vaddr_t va);

/* A kernel pointer to physical frame pa: the direct map when it covers pa,
 * else a temporary window (one at a time; release it with kunmap). */
void *kmap(paddr_t pa);
/* kmap of a frame by number (a window for anything outside the direct map,
 * frames above 4 GiB included): the frame's first byte. */
void *kmap_pfn(pfn_t pfn);
/* Always a window (kunmap it), also below the direct-map limit: for frames
 * the direct map leaves out (the first MiB, reserved regions), writable. */
void *kmap_window(pfn_t pfn);
/* The same window without PAGE_WRITE (kunmap it): for memory the kernel
 * only reads and must never write, such as the firmware's ACPI tables. */
const void *kmap_window_readonly(pfn_t pfn);
void kunmap(void *va);

/* A zeroed frame the kernel can reach through the direct map (page tables,
 * directories, kernel stacks), or 0 when low memory is exhausted. */
paddr_t alloc_kernel_frame(void);

/* Paging tables for a CPU that turns paging on (an AP, kernel/smp.c): the
 * kernel half as every directory has it, plus the page `identity` (page
 * aligned, below 4 MiB) mapped at its own address, writable and executable,
 * because the code that turns paging on runs there.  cr3 is what to load
 * (PAE: a PDPT, page aligned, below 4 GiB).  Three frames from the direct
 * map, given back by vmm_boot_tables_free once no CPU uses them.
 * 0 or -ENOMEM (nothing kept). */
struct vmm_boot_tables {
  paddr_t cr3;
  paddr_t frames[3]; /* directory or PDPT; PAE page directory (else unused); page table */
};
int vmm_boot_tables_build(paddr_t identity, struct vmm_boot_tables *t);
void vmm_boot_tables_free(struct vmm_boot_tables *t);

/* User page tables come from the pool "pagetables" (mm/pool.h), created by
 * vmm_pools_init once the heap works.  Only the page-fault handler may take
 * one from its reserve: it sets the permission vmm_table_may_use_reserve
 * while it resolves a fault in user memory (and puts the old value back
 * after), so a fault that needs a new table completes when the PMM is
 * exhausted; fork, mmap, spawn may fail and never drain it.  One fault maps
 * one page and so needs one table at most (PAE's user page directories exist
 * from the address space's creation); the reserve holds VMM_TABLE_RESERVE, a
 * safety factor of 4 for faults in a row (other processes', or a system
 * call's copy crossing into a second table's range) before a table is freed
 * or a table the PMM serves tops it up again (mm/pool.h). */
#define VMM_TABLE_RESERVE 4u
struct pool;
extern struct pool *vmm_table_pool;
extern bool vmm_table_may_use_reserve;
void vmm_pools_init(void);

/* -- fork (kernel/fork.c) ----------------------------------------------------
 * Copying user ranges takes two steps so that running out of frames changes
 * nothing: vmm_fork_prepare gives dst a page table wherever src has one in
 * [start, end) (the only allocations; -ENOMEM leaves src as it was and dst
 * to be destroyed), then vmm_fork_range copies the entries and cannot fail.
 * Both take ranges, not the whole user half: a walk over every empty page
 * table entry of 3 GiB would cost more than copying a thousand pages. */
int vmm_fork_prepare(page_directory_t *src, page_directory_t *dst, vaddr_t start, vaddr_t end);

struct vmm_fork_counts {
  uint32_t pages;           /* present and PAGE_PROTNONE entries copied */
  uint32_t shared;          /* of them, shared writable (a `shared` range) */
  uint32_t cow;             /* of them, copy-on-write in both afterwards */
  uint32_t write_protected; /* src entries that lost PAGE_WRITE: src's TLB is stale */
  uint32_t swapped;         /* swap entries copied (one more reference on each slot) */
};

/* Copies every present or PAGE_PROTNONE entry of src in [start, end) into
 * dst (the same frame; a PAGE_OWNED one takes one more reference).  A
 * private range (`shared` false) turns each writable, COW or protnone owned
 * page into read-only + PAGE_COW in both and marks its frame FRAME_COW;
 * read-only pages are copied as they are.
 * A shared range is copied as it is, writable pages stay writable in both.
 * src's TLB is not flushed: the caller reloads CR3 once when
 * counts->write_protected says an entry of the live directory changed (a
 * protnone entry that gains PAGE_COW counts too: it is never cached, but
 * the rule stays one test in the loop). */
void vmm_fork_range(page_directory_t *src, page_directory_t *dst, vaddr_t start, vaddr_t end,
                    bool shared, struct vmm_fork_counts *counts);

/* A swap entry in dir (PAGE_SWAP above) is copied by fork (one more slot
 * reference: swap_dup; COW in both for a private range), dropped by unmap
 * and by destroying the directory (swap_put).
 * -- swap entries, for mm/swap.c (user addresses only) -- */
/* Whether a page table covers va (walkers skip the span of an absent one). */
bool vmm_table_present(page_directory_t *dir, vaddr_t va);
/* The swap entry at va: 0 with its slot and the rights it keeps (PAGE_USER,
 * PAGE_WRITE, PAGE_COW, and PAGE_EXEC when NX is on and the entry lacks it);
 * -ENOENT when the entry is anything else. */
int vmm_lookup_swap(page_directory_t *dir, vaddr_t va, uint32_t *slot, uint32_t *flags);
/* munmap's walk: unmaps whatever user entry is at va, with one lookup when
 * there is none.  VMM_DROPPED_PAGE (a present or PROT_NONE entry: its frame
 * reference dropped), VMM_DROPPED_SLOT (a swap entry: its slot reference
 * dropped), or 0 (nothing there). */
enum { VMM_DROPPED_PAGE = 1, VMM_DROPPED_SLOT = 2 };
int vmm_drop_user(page_directory_t *dir, vaddr_t va);
/* The present, owned user page at va becomes the swap entry for slot (its
 * rights and NX kept) and its frame loses the mapping's reference.  0, or
 * -EINVAL (kind not-swappable) and nothing changes. */
int vmm_swap_out(page_directory_t *dir, vaddr_t va, uint32_t slot);
/* The swap entry at va becomes a present mapping of pfn with flags (a
 * reference taken with PAGE_OWNED); the caller drops the slot's reference.
 * 0, or -ENOENT (not a swap entry) / -EINVAL. */
int vmm_swap_in(page_directory_t *dir, vaddr_t va, pfn_t pfn, uint32_t flags);
/* New rights (PAGE_WRITE, PAGE_COW, PAGE_EXEC; PAGE_USER stays) for the swap
 * entry at va, for mprotect: 0 or -ENOENT. */
int vmm_swap_protect(page_directory_t *dir, vaddr_t va, uint32_t flags);
/* Clears PAGE_ACCESSED in the present entry at va (invlpg when live):
 * whether it was set (the clock's second chance). */
bool vmm_clear_accessed(page_directory_t *dir, vaddr_t va);

/* Replaces the frame and flags of an existing mapping at va (the COW fault's
 * copy): takes a reference on pfn if flags has PAGE_OWNED, then drops the old
 * entry's (which may free the old frame).  0, or -ENOENT / -EINVAL. */
int vmm_remap_pfn(page_directory_t *dir, vaddr_t va, pfn_t pfn, uint32_t flags);
