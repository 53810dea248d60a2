/* i386 two-level paging without PAE: the hardware's formats, nothing more.
 *
 * A 32-bit virtual address splits into three parts:
 *
 *   31                 22 21                 12 11                     0
 *  +---------------------+---------------------+------------------------+
 *  | page directory idx  |   page table idx    |    offset in page      |
 *  |      PDX(va)        |      PTX(va)        |      PGOFF(va)         |
 *  +---------------------+---------------------+------------------------+
 *
 * CR3 holds the physical address of a 4 KiB page directory of 1024 PDEs; each
 * present PDE points to a 4 KiB page table of 1024 PTEs (or, with PS=1 and
 * CR4.PSE, maps a 4 MiB page directly); each present PTE maps a 4 KiB frame. */
#pragma once

#include "types.h"

typedef uint32_t pte_t;
typedef uint32_t pde_t;
_Static_assert(sizeof(pte_t) == 4, "a non-PAE page table entry is 32 bits");
_Static_assert(sizeof(pde_t) == 4, "a non-PAE page directory entry is 32 bits");

#define PAGE_SIZE 4096u
#define PAGE_SHIFT 12
#define LARGE_PAGE_SIZE 0x400000u  /* 4 MiB page (PDE with PS=1) */
#define ENTRIES_PER_TABLE 1024u
#define PDX_SHIFT 22

#define PDX(va) (((uint32_t)(va) >> PDX_SHIFT) & 0x3FFu)
#define PTX(va) (((uint32_t)(va) >> PAGE_SHIFT) & 0x3FFu)
#define PGOFF(va) ((uint32_t)(va) & (PAGE_SIZE - 1))
#define PGADDR(pdx, ptx) ((vaddr_t)(((uint32_t)(pdx) << PDX_SHIFT) | ((uint32_t)(ptx) << PAGE_SHIFT)))

/* Entry bits, shared by PDEs and PTEs unless noted. */
#define PAGE_PRESENT 0x001u   /* translation is valid */
#define PAGE_WRITE 0x002u     /* writable (also by the kernel when CR0.WP) */
#define PAGE_USER 0x004u      /* reachable from ring 3 */
#define PAGE_PWT 0x008u       /* write-through caching */
#define PAGE_PCD 0x010u       /* caching disabled */
#define PAGE_ACCESSED 0x020u  /* set by the CPU on any access */
#define PAGE_DIRTY 0x040u     /* PTE only: set by the CPU on a write */
#define PAGE_PS 0x080u        /* PDE only: 4 MiB page (needs CR4.PSE) */
#define PAGE_GLOBAL 0x100u    /* PTE only: survives CR3 reloads (needs CR4.PGE) */
#define PAGE_AVAIL_MASK 0xE00u /* ignored by the CPU, free for the kernel */
#define PAGE_FLAGS_MASK 0xFFFu
#define PAGE_FRAME_MASK 0xFFFFF000u

#define PTE_ADDR(e) ((paddr_t)((e) & PAGE_FRAME_MASK))
#define PTE_FLAGS(e) ((uint32_t)((e) & PAGE_FLAGS_MASK))

/* PAE paging (CR4.PAE): the same 4 KiB pages, 64-bit entries, one more level.
 *
 *   31 30 29            21 20            12 11                     0
 *  +-----+----------------+----------------+------------------------+
 *  |PDPT |  PD index      |  PT index      |    offset in page      |
 *  +-----+----------------+----------------+------------------------+
 *
 * CR3 holds the 32-byte aligned physical address of a PDPT of 4 entries; the
 * CPU loads all four when CR3 is written (a PDPTE changed later is not seen
 * until the next CR3 load).  PDPTEs have only P, PWT and PCD: R/W, U/S and NX
 * are reserved there.  Each PDPTE points to a page directory of 512 entries
 * (one per 2 MiB), each PDE to a page table of 512 PTEs.  The low 12 bits of
 * PDEs and PTEs mean what they mean above; bit 63 is NX (execute-disable)
 * when EFER.NXE is set, and a reserved bit when it is not. */
typedef uint64_t pae_entry_t;
#define PAE_PDPT_ENTRIES 4u
#define PAE_ENTRIES 512u
#define PAE_PD_SHIFT 21
#define PAE_PDPT_SHIFT 30
#define PAE_LARGE_PAGE_SIZE 0x200000u /* 2 MiB page (PDE with PS=1) */
#define PAE_PDPX(va) ((uint32_t)(va) >> PAE_PDPT_SHIFT)
#define PAE_PDX(va) (((uint32_t)(va) >> PAE_PD_SHIFT) & 0x1FFu)
#define PAE_PTX(va) (((uint32_t)(va) >> PAGE_SHIFT) & 0x1FFu)
#define PAE_NX (1ull << 63)
#define PAE_FRAME_MASK 0x000FFFFFFFFFF000ull /* bits 51:12, as far as MAXPHYADDR goes */

/* #PF error code bits (Intel SDM vol. 3A, 4.7). */
#define PF_ERR_PRESENT 0x01u  /* 0: page not present, 1: protection violation */
#define PF_ERR_WRITE 0x02u    /* the access was a write */
#define PF_ERR_USER 0x04u     /* the access came from ring 3 */
#define PF_ERR_RSVD 0x08u     /* a reserved bit was set in an entry */
#define PF_ERR_FETCH 0x10u    /* instruction fetch (with SMEP/NX) */
