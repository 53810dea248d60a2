/* Shared between heap.c (the API, checks, reports), slab.c (small blocks)
 * and heap_large.c (large blocks).  Not for use outside mm/. */
#pragma once

#include "memlayout.h"
#include "mm/heap.h"

/* Every block, small or large, starts with this header; the caller's pointer
 * is the byte right after it (16-byte aligned). */
struct block_header {
  uint32_t canary; /* CANARY_LIVE(_DEBUG)/FREE/QUARANTINED ^ payload address */
  uint32_t size;   /* live: bytes requested; free slab slot: the next free slot */
  uint32_t caller; /* who allocated it (live) or freed it (free) */
  uint32_t epoch;  /* heap_mark() epoch it was allocated in, for leak reports */
};
_Static_assert(sizeof(struct block_header) == 16, "payloads stay 16-byte aligned");

#define CANARY_LIVE 0xA110C8EDu
#define CANARY_LIVE_DEBUG 0xA110DEB6u /* live, allocated with heap_debug=full */
#define CANARY_FREE 0xF7EEB10Cu
#define CANARY_QUARANTINED 0xBADB10C5u
#define CANARY_QUICK 0x9C1CB10Cu /* large block parked on a quick list (heap_large.c) */
#define REDZONE_BYTES 4u
#define REDZONE_PATTERN 0xFDFDFDFDu /* the 4 bytes after each block */
#define POISON_WORD 0x6B6B6B6Bu     /* freed memory */
#define POISON_BYTES 32u            /* poisoned and checked by default */

/* Sub-ranges of the kernel heap's virtual range. */
#define SLAB_BASE KHEAP_BASE
#define SLAB_LIMIT (KHEAP_BASE + 0x04000000u) /* 64 MiB of slabs */
#define SLAB_CHUNK 0x4000u                    /* every slab starts 16 KiB aligned */
#define LARGE_BASE SLAB_LIMIT
#define LARGE_LIMIT KHEAP_LIMIT

static inline struct block_header *header_of(void *payload) {
  return (struct block_header *)payload - 1;
}
static inline uint32_t canary(uint32_t kind, const void *payload) {
  return kind ^ (uint32_t)payload;
}

/* Poison: the freed block's first POISON_BYTES (every payload has at least
 * that many), or all of it with heap_debug=full. */
static inline void poison(void *payload, uint32_t bytes) {
  uint32_t *w = payload;
  if (bytes == POISON_BYTES) { /* the fast paths: unrolled */
    w[0] = w[1] = w[2] = w[3] = w[4] = w[5] = w[6] = w[7] = POISON_WORD;
    return;
  }
  for (uint32_t i = 0; i < bytes / 4; i++) w[i] = POISON_WORD;
}

/* Word by word: for heap_check and heap_debug=full. */
static inline bool poison_exact(const void *payload, uint32_t bytes) {
  const uint32_t *w = payload;
  for (uint32_t i = 0; i < bytes / 4; i++)
    if (w[i] != POISON_WORD) return false;
  return true;
}

/* The check made when a freed block is handed out again: the sum of its
 * first eight words against 8 * POISON_WORD, one add per word instead of a
 * compare and branch.  Any write of a word is caught, and any write of several
 * unless their changes cancel exactly; writes of zeros always are (the poison
 * word is odd).  heap_check and heap_debug=full compare every word. */
static inline bool poison_intact(const void *payload) {
  const uint32_t *w = payload;
  return w[0] + w[1] + w[2] + w[3] + w[4] + w[5] + w[6] + w[7] == 8u * POISON_WORD;
}

/* Live: allocated normally or under heap_debug=full. */
static inline bool is_live(const void *payload) {
  uint32_t c = ((const struct block_header *)payload - 1)->canary;
  return c == canary(CANARY_LIVE, payload) || c == canary(CANARY_LIVE_DEBUG, payload);
}

extern bool heap_debug_full;
extern uint32_t heap_epoch;

/* heap.c */
void heap_report(enum heap_error kind, const void *addr, vaddr_t caller, uint32_t size);
bool heap_map_range(vaddr_t start, vaddr_t end);  /* maps missing pages; false: no frames, none mapped */
void heap_unmap_range(vaddr_t start, vaddr_t end); /* unmaps mapped pages, frees frames */
void heap_check_fail(const char *what, const void *addr);

/* slab.c (the fast paths are in slab.h) */
void slab_init(void);
static inline bool slab_owns(const void *ptr) {
  return (vaddr_t)ptr >= SLAB_BASE && (vaddr_t)ptr < SLAB_LIMIT;
}
uint32_t slab_capacity(const void *ptr); /* payload bytes of ptr's slot */
int slab_check(void);
void slab_stats(void);
void slab_trim(void);
uint32_t slab_leaks(uint32_t mark, uint32_t *bytes);

/* heap_large.c */
void *large_alloc(size_t size, uint32_t align, vaddr_t caller);
static inline bool large_owns(const void *ptr) {
  return (vaddr_t)ptr >= LARGE_BASE && (vaddr_t)ptr < LARGE_LIMIT;
}
void large_free(void *ptr, vaddr_t caller);
/* Resizes in place if possible; false (nothing changed) if not. */
bool large_resize(void *ptr, size_t size);
uint32_t large_capacity(const void *ptr);
int large_check(void);
void large_stats(void);
void large_trim(void);
uint32_t large_leaks(uint32_t mark, uint32_t *bytes);
