/* Slab internals shared by slab.c and the kmalloc/kfree fast paths in heap.c
 * (inline here, because those paths are the heap's whole cost: see
 * heap_pair_insns in the README).  Not for use outside mm/. */
#pragma once

#include "mm/heap_internal.h"

#define SLAB_MAGIC 0x51AB51ABu
#define CHUNKS ((SLAB_LIMIT - SLAB_BASE) / SLAB_CHUNK)

struct slab {
  uint32_t magic;             /* SLAB_MAGIC ^ the slab's address */
  uint32_t class_index, slot_count;
  uint32_t in_use, quarantined;
  struct block_header *free;  /* first free slot */
  struct slab *prev, *next;   /* in the class's list of slabs with free slots */
  uint32_t bytes;             /* mapped bytes */
  uint32_t kept;              /* it is its class's kept slab (c->empty) */
  uint32_t max_size;          /* largest request a slot holds (capacity - red zone) */
  uint32_t unused;
};
_Static_assert(sizeof(struct slab) % 16 == 0, "slots stay 16-byte aligned");

struct slab_class {
  struct slab *partial; /* slabs with at least one free slot */
  struct slab *empty;   /* the last slab kept when it fell empty (may be in use again) */
  uint32_t capacity;    /* payload bytes per slot (at least POISON_BYTES) */
  uint32_t slot_size, slot_count, slab_bytes;
  uint32_t unused[2];
};
_Static_assert(sizeof(struct slab_class) == 32, "indexed with a shift on the fast path");

/* One more than the real classes: with heap_debug=full every size maps to
 * the last, which never has slabs, so the fast path always defers to the
 * slow path (and costs nothing extra when debugging is off). */
extern struct slab_class slab_classes[HEAP_CLASS_COUNT + 1];
extern uint8_t slab_class_of[(HEAP_SMALL_MAX + REDZONE_BYTES + 15) / 16 + 1];
extern uint32_t slab_chunk_used[CHUNKS / 32];

/* Everything the fast paths hand off: growing, corruption, bad frees, slabs
 * filling up or falling empty. */
void *slab_alloc_slow(size_t size, vaddr_t caller);

void slab_free_slow(void *p, vaddr_t caller);
void slab_became_empty(struct slab_class *c, struct slab *s);
void slab_list_push(struct slab_class *c, struct slab *s);
void slab_list_remove(struct slab_class *c, struct slab *s);

static inline struct slab *slab_of(const void *ptr) {
  return (struct slab *)((vaddr_t)ptr & ~(SLAB_CHUNK - 1));
}

static inline uint32_t slab_class_index(size_t size) {
  return slab_class_of[(size + REDZONE_BYTES + 15) >> 4];
}

static inline __attribute__((always_inline)) void *slab_alloc(size_t size, vaddr_t caller) {
  struct slab *s = slab_classes[slab_class_index(size)].partial;
  if (__builtin_expect(!s, 0)) return slab_alloc_slow(size, caller);
  struct block_header *h = s->free;
  if (__builtin_expect(h->canary != canary(CANARY_FREE, h + 1) || !poison_intact(h + 1), 0))
    return slab_alloc_slow(size, caller); /* reports and quarantines, then retries */
  h->canary ^= CANARY_FREE ^ CANARY_LIVE; /* it was canary(CANARY_FREE, h + 1): checked */
  struct block_header *next = (struct block_header *)h->size;
  s->free = next;
  h->size = size;
  h->caller = caller;
  h->epoch = heap_epoch;
  *(uint32_t *)((uint8_t *)(h + 1) + size) = REDZONE_PATTERN; /* unaligned: fine on x86 */
  s->in_use++;
  if (__builtin_expect(!next, 0)) slab_list_remove(&slab_classes[s->class_index], s);
  return h + 1;
}

/* Frees a pointer in the slab range.  The fast path needs the chunk live (a
 * single bt), a plausible size, a live canary (which encodes the address, so an interior pointer cannot
 * match) and an intact red zone; anything else goes to slab_free_slow, which
 * classifies and reports it. */
static inline __attribute__((always_inline)) void slab_free(void *p, vaddr_t caller) {
  uint32_t chunk = ((vaddr_t)p - SLAB_BASE) / SLAB_CHUNK;
  __asm__ goto("bt %1, %0\n\tjnc %l[refuse]" : : "m"(*slab_chunk_used), "r"(chunk) : "cc"
               : refuse);
  struct slab *s = slab_of(p);
  struct block_header *h = header_of(p);
  /* Every slab maps its whole chunk, so the header can be read; a size no
   * larger than a slot holds keeps the red-zone read inside the slot. */
  uint32_t size = h->size;
  if (__builtin_expect(size > s->max_size || h->canary != canary(CANARY_LIVE, p) ||
                           *(uint32_t *)((uint8_t *)p + size) != REDZONE_PATTERN, 0))
    goto refuse;
  struct block_header *first = s->free;
  poison(p, POISON_BYTES);
  h->canary ^= CANARY_LIVE ^ CANARY_FREE; /* it was canary(CANARY_LIVE, p): checked */
  h->caller = caller;
  h->size = (uint32_t)first;
  s->free = h;
  if (__builtin_expect(!first, 0)) slab_list_push(&slab_classes[s->class_index], s);
  /* A slab emptied again and again (the kept one) costs only this test. */
  if (__builtin_expect(--s->in_use == 0, 0) && !s->kept)
    slab_became_empty(&slab_classes[s->class_index], s);
  return;
refuse:
  slab_free_slow(p, caller);
}
