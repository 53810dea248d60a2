/* mmap, munmap, mprotect and the per-process resource limits.
 *
 * A process's mmap regions (struct vm_region in mm/mm.h) are kept in
 * p->mm.regions sorted by start, disjoint, page aligned, and merged: two
 * regions that touch and have the same prot and flags are one.  The image,
 * heap, stack and shared-memory areas are not regions and cannot be mapped
 * over, unmapped or protected through these calls.
 *
 * Kinds of mapping (always MAP_ANONYMOUS, exactly one of):
 *   MAP_PRIVATE  demand-zero: no frame until the first touch, which maps a
 *                zeroed frame with the region's rights.  Copy-on-write across
 *                fork.
 *   MAP_SHARED   every frame is allocated, zeroed and mapped (PAGE_OWNED) at
 *                mmap time, so fork can share it writable with the child;
 *                PROT_NONE is refused for it (EINVAL), as is mprotect to
 *                PROT_NONE (kept so: fork shares these pages writable, and
 *                a PAGE_PROTNONE entry in a shared region would need its own
 *                rules there; nothing asks for it yet).
 * PROT_NONE regions are guard regions: any access kills with reason `guard`
 * (a system call given such an address gets EFAULT).  mprotect to PROT_NONE
 * keeps the private pages already touched in the range, as Linux does: each
 * becomes a PAGE_PROTNONE entry (mm/vmm.h), not present to the CPU but
 * holding its frame and reference.  They stay resident (they count in
 * p->mm.pages and against resident_pages); mprotect back makes them present
 * again with the new rights and their contents (PAGE_COW instead of write
 * while the frame has other references); munmap and exit free them; fork
 * copies them (one more reference, COW-marked in both).
 *
 * Where (USER_* in mm/uvm.h, areas as in uvm.h's comment):
 *   - MAP_FIXED: exactly at addr; mmap regions there are replaced.  A range
 *     overlapping the image, the heap area [heap_base, heap_base +
 *     USER_HEAP_MAX), the shared-memory area [shm_base, shm_base +
 *     USER_SHM_SPAN) or the stack area with its guard page is refused with
 *     EEXIST (only mmap regions can be replaced).  If frames run out while a
 *     MAP_FIXED shared mapping is built, the range is left unmapped (-ENOMEM),
 *     as Linux allows for MAP_FIXED.
 *   - MAP_FIXED_NOREPLACE: exactly at addr, EEXIST if anything is there.
 *   - otherwise addr is a hint, used when that range is free; else the
 *     kernel chooses: the first fit from p->mm.mmap_base up to MMAP_AREA_END, then
 *     from MMAP_AREA_BASE up to mmap_base.  mmap_base is drawn by
 *     aslr_layout in [MMAP_AREA_BASE, MMAP_AREA_BASE + 512 MiB) (MMAP_AREA_BASE
 *     with aslr=off).
 *
 * munmap(addr, len) drops whatever mmap regions lie in the range (gaps are
 * fine, as in Linux) and the frames mapped there.  mprotect(addr, len, prot)
 * needs the range wholly covered by mmap regions (else ENOMEM, nothing
 * changed).  Both are page-granular: a region partly in the range is split.
 * Adding PROT_WRITE to a private page whose frame has other references
 * (after fork) makes it PAGE_COW, not writable; the COW write fault copies it.
 *
 * Bad input is refused before anything changes, with one record
 *   MMAP error=<kind> op=<mmap|munmap|mprotect|setrlimit|getrlimit> addr=<hex>
 *        len=<hex> prot=<hex> flags=<hex>
 * and the errno:
 *   EACCES  PROT_WRITE|PROT_EXEC (W^X; checked first, for any range)
 *   EINVAL  unaligned addr, len 0 or wrapping, a range touching the null page
 *           or the kernel half, unknown prot/flag bits, not exactly one of
 *           MAP_SHARED/MAP_PRIVATE, no MAP_ANONYMOUS, MAP_SHARED|PROT_NONE;
 *           munmap/mprotect of a range touching the image, heap, shm or stack
 *           area (munmap of the stack: EINVAL, the stack intact)
 *   EEXIST  a fixed mmap over the image/heap/shm/stack area, or
 *           MAP_FIXED_NOREPLACE over anything
 *   ENOMEM  no free range, no region slot (PROC_REGIONS_MAX or the mappings
 *           limit), the address-space or resident limit, out of frames;
 *           mprotect of a range not wholly mapped
 *
 * Limits (struct proc_limits): defaults as_pages = resident_pages =
 * PROC_MAX_PAGES, mappings = PROC_REGIONS_MAX; a process may read them and
 * lower them, never raise them (EPERM); an unknown resource is EINVAL.
 * Lowering below what is in use is allowed: it refuses growth from then on.
 *   as_pages        reserved_pages (image, heap, stack, shm, every mmap region)
 *                   may not exceed it: brk, shm attach, mmap give ENOMEM
 *   resident_pages  pages (user frames mapped) may not exceed it: mmap
 *                   MAP_SHARED and shm attach give ENOMEM, a demand fault
 *                   (heap, stack, region) kills with reason `limit`
 *   mappings        region_count may not exceed it: ENOMEM */
#pragma once

#include "mm/fault.h"
#include "types.h"

#define MMAP_AREA_BASE 0x40000000u   /* kernel-chosen addresses: [BASE, END) */
#define MMAP_AREA_END 0x80000000u
#define MMAP_BASE_SPAN 0x20000000u   /* mmap_base is drawn in [BASE, BASE + SPAN) */

struct mm;
struct process;
struct page_fault;

/* Sets p's default limits and an empty region list (spawn). */
void mmap_init_process(struct process *p);

/* The system calls.  mmap returns the address (an IS_ERR_VALUE on failure),
 * the others 0; each a negative errno on failure. */
int32_t mmap_map(struct process *p, vaddr_t addr, uint32_t len, uint32_t prot, uint32_t flags);
/* mmap of a file of the file system (flags without MAP_ANONYMOUS), from byte
 * `offset` (page aligned, else EINVAL): its pages come on demand from the
 * page cache (fault reason file-page).  MAP_SHARED maps the cache's frame
 * itself and refuses PROT_WRITE (EACCES, kind read-only-file: the file
 * system is read-only; mprotect refuses adding it too); MAP_PRIVATE maps it
 * read-only, PAGE_COW when the region is writable, and the first write
 * copies it.  A page wholly past the end of the file, or one the disk cannot
 * read, kills with reason file-io; the rest of the last page reads as
 * zeros.  fork shares the mapping (the cache's frames, one reference more
 * each); munmap and exit drop the mappings' references, the cache keeps its
 * own. */
struct fs_file;
int32_t mmap_map_file(struct process *p, vaddr_t addr, uint32_t len, uint32_t prot,
                      uint32_t flags, const struct fs_file *file, uint32_t offset);
int32_t mmap_unmap(struct process *p, vaddr_t addr, uint32_t len);
int32_t mmap_protect(struct process *p, vaddr_t addr, uint32_t len, uint32_t prot);
int32_t mmap_getrlimit(struct process *p, uint32_t resource);
int32_t mmap_setrlimit(struct process *p, uint32_t resource, uint32_t value);

/* The mmap region of mm holding va, or NULL. */
const struct vm_region *mmap_region_at(const struct mm *mm, vaddr_t va);
/* A not-present fault at pf->addr inside region r: REASON_DEMAND_PAGE when a
 * zeroed page was mapped, else REASON_GUARD (PROT_NONE),
 * REASON_WRITE_TO_READ_ONLY, REASON_LIMIT (resident limit) or
 * REASON_OUT_OF_MEMORY. */
enum fault_reason mmap_fault(struct process *p, const struct vm_region *r,
                             const struct page_fault *pf);
