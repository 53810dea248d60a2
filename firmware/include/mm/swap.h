/* Swap: user pages moved out of RAM when it runs short, and back on fault.
 *
 * Slots.  A slot is one 4 KiB page of the swap disk (kernel command line
 * `swap=<hdX|off>`, default hdc; slot n is sectors 8n..8n+7); slot 0 is never
 * used, so 0 means "none".  Without a swap disk (absent or swap=off) swap
 * works from the compressed pool alone (mm/zswap.h) with SWAP_POOL_SLOTS
 * virtual slots and no write-back; without the pool either, swap is off.
 * swap_map[slot] counts the references to a slot: every swap PTE naming it
 * plus one while the swap cache holds a frame for it (both arrays come from
 * the heap: at boot with a swap disk, at the first swap-out without one).  Allocation takes the
 * lowest free slot.  A slot whose disk write failed is retired
 * (SWAP_RETIRED): never used again.
 *
 * PTE encoding (mm/vmm.h PAGE_SWAP): a not-present entry
 *   slot << 12 | PAGE_SWAP | PAGE_USER [| PAGE_WRITE] [| PAGE_COW] [| NX]
 * The rights are the ones the page had; they come back with it.
 *
 * Swap-out (the clock, swap_out_pages): a second-chance clock over every
 * live process's private user pages, its hand a (process slot, address).
 * A present, owned user page whose ACCESSED bit is set loses the bit and is
 * skipped; one without it is evicted: offered to the pool first
 * (zswap_store), else written to its disk slot; its PTE becomes the swap
 * entry and the frame's reference goes.  A page whose frame the swap cache
 * holds (and no one else) goes back to naming its slot, with no write, and
 * the cache lets the frame go.  Skipped, never evicted: frames other PTEs
 * still map (shared COW frames after fork), page-cache frames, pinned frames
 * (shared memory), MAP_SHARED regions, PROT_NONE entries, kernel mappings.  A disk write error retires the slot
 * (one `SWAP error=write` record), the page stays in RAM untouched, and the
 * clock moves on to the next page and slot.
 *
 * Swap-in (swap_fault, reason swap-in): from the swap cache, else the pool
 * (zswap_load), else the disk.  The swap cache: when a slot is named by more
 * than one PTE (fork of a swapped page), the first fault reads it and keeps
 * (slot -> frame) with one frame reference (FRAME_SWAPCACHE); later faults
 * map that frame copy-on-write; when the last PTE has come back (or gone),
 * the cache lets go and the slot is freed.  A slot that cannot be read kills
 * the faulting process with reason swap-io (one `SWAP error=read` record);
 * the kernel and other processes go on.  When the fault is a system call's
 * copy (copy_*_user), the copy fails (-EFAULT), the call releases what it
 * holds and returns, and a pending kill (PROC_KILL_SWAP_IO) ends the process
 * with reason swap-io on its way out of the kernel.
 *
 * Records:
 *   SWAP dev=<name|none> slots=<n> pool=<on|off>
 *   SWAP error=write slot=<n> errno=<n>     (the slot is retired)
 *   SWAP error=read slot=<n> pid=<n> va=<hex> errno=<n> */
#pragma once

#include "mm/fault.h"
#include "types.h"

struct process;

#define SWAP_SLOTS_LIMIT (1u << 20)  /* slots fit the low half of a PAE entry */
#define SWAP_POOL_SLOTS 16384u       /* pool-only slots (64 MiB of pages) */
#define SWAP_RETIRED 0xFFu           /* swap_map value of a retired slot */
#define SWAP_SECTORS_PER_SLOT 8u

struct swap_stats {
  uint32_t slots;          /* slots 0..slots-1 exist (0 is never used) */
  uint32_t in_use;         /* slots with references */
  uint32_t retired;        /* slots whose disk write failed */
  uint32_t swap_outs;      /* pages evicted */
  uint32_t swap_ins;       /* swap faults resolved */
  uint32_t pool_stores;    /* evictions the pool took */
  uint32_t disk_writes;    /* evictions written to the disk */
  uint32_t pool_loads, disk_reads;
  uint32_t cache_hits;     /* swap faults served by the swap cache */
  uint32_t cache_pages;    /* frames in the swap cache now */
  uint32_t write_errors, read_errors;
  uint32_t scanned;        /* PTEs the clock looked at */
  uint32_t second_chances; /* of them, ACCESSED cleared and skipped */
};
extern struct swap_stats swap_stats;
extern uint8_t *swap_map;        /* references per slot (see above); NULL until allocated */
extern pfn_t *swap_cache;        /* per slot: the swap cache's frame, or 0; NULL likewise */
extern uint32_t swap_disk_index; /* IDE index of the swap disk, or 0xFFFFFFFF */

/* Reads swap= / zswap= / zswap_max=, sizes the slot map, starts the pool
 * (zswap_init) and prints the SWAP record.  After blk_init. */
void swap_init(void);
/* One more / one fewer reference on slot (fork, unmap, exit).  The last one
 * frees the slot and forgets its pool entry. */
void swap_dup(uint32_t slot);
void swap_put(uint32_t slot);
/* Runs the clock until `want` pages were evicted or every page had its
 * chance: how many were evicted.  Only pages whose frames lie on a node of
 * the mask `nodes` (bit i: node i) are looked at: a process bound to a
 * node gains nothing from evicting other nodes' pages. */
uint32_t swap_out_pages(uint32_t want, uint32_t nodes);
/* pageout(addr, len) for p: evicts every page of [addr, addr + len) the
 * clock could evict, now, without the second chance (as Linux's
 * MADV_PAGEOUT): how many went, or -EINVAL (unaligned, outside user space). */
int32_t swap_pageout(struct process *p, vaddr_t addr, uint32_t len);

struct page_fault;
/* The fault at page (not present) of p, when its PTE is a swap entry:
 * REASON_SWAP_IN (resolved), REASON_SWAP_IO, REASON_OUT_OF_MEMORY or
 * REASON_GUARD (a PROT_NONE region).  Returns REASON_COUNT when the entry is
 * not a swap entry (the caller goes on with demand paging). */
enum fault_reason swap_fault(struct process *p, vaddr_t page);
