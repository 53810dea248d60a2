/* Small blocks (up to HEAP_SMALL_MAX bytes) from per-size-class slabs.
 *
 * A slab is 16 KiB of slots of one size, aligned to 16 KiB in the slab range,
 * so a block's slab is found by masking its address, and any address inside a
 * live slab can be read (kfree's fast path relies on both).  Each
 * slot is a block_header and the payload; free slots are chained through their
 * headers (the payload keeps its poison).  Each class keeps a list of slabs
 * with free slots, takes the first, and keeps at most one empty slab; further
 * empty slabs are unmapped and their frames go back to the PMM.  The fast
 * paths are inline in slab.h; this file has everything else. */
#include "mm/slab.h"
#include "kernel/errno.h"
#include "kernel/kprintf.h"
#include "lib/string.h"
#include "memlayout.h"

/* Payload capacities: each holds requests up to capacity - REDZONE_BYTES. */
static const uint16_t capacities[HEAP_CLASS_COUNT] = {
    32, 48, 64, 80, 96, 112, 128, 160, 192, 256, 320, 384, 512, 640, 768, 1024, 1280, 1536,
    1792, 2064};
_Static_assert(32 >= POISON_BYTES, "every slot has room for the poison");
_Static_assert(2064 >= HEAP_SMALL_MAX + REDZONE_BYTES, "the top class holds HEAP_SMALL_MAX");

struct slab_class slab_classes[HEAP_CLASS_COUNT + 1];
uint8_t slab_class_of[(HEAP_SMALL_MAX + REDZONE_BYTES + 15) / 16 + 1];
uint32_t slab_chunk_used[CHUNKS / 32];

void slab_init(void) {
  for (uint32_t i = 0; i < HEAP_CLASS_COUNT; i++) {
    struct slab_class *c = &slab_classes[i];
    c->capacity = capacities[i];
    c->slot_size = sizeof(struct block_header) + c->capacity;
    c->slab_bytes = SLAB_CHUNK;
    c->slot_count = (c->slab_bytes - sizeof(struct slab)) / c->slot_size;
    heap_stats.class_size[i] = c->capacity;
  }
  uint32_t cls = 0;
  for (uint32_t units = 0; units < ARRAY_SIZE(slab_class_of); units++) {
    while (capacities[cls] < units * 16) cls++;
    slab_class_of[units] = (uint8_t)cls;
  }
  if (heap_debug_full) /* see slab.h: every size to the empty debug class */
    for (uint32_t units = 0; units < ARRAY_SIZE(slab_class_of); units++)
      slab_class_of[units] = HEAP_CLASS_COUNT;
}

/* The real class for size (slab_class_of may point at DEBUG_CLASS). */
static struct slab_class *class_for(size_t size) {
  uint32_t units = (size + REDZONE_BYTES + 15) >> 4, i = 0;
  while (capacities[i] < units * 16) i++;
  return &slab_classes[i];
}

/* Bytes poisoned in a free slot of class c. */
static inline uint32_t poison_span(const struct slab_class *c) {
  return heap_debug_full ? c->capacity : POISON_BYTES;
}

static inline void *slot_payload(const struct slab *s, uint32_t i) {
  return (uint8_t *)(s + 1) + i * slab_classes[s->class_index].slot_size +
         sizeof(struct block_header);
}

void slab_list_remove(struct slab_class *c, struct slab *s) {
  if (s->prev) s->prev->next = s->next;
  else c->partial = s->next;
  if (s->next) s->next->prev = s->prev;
  s->prev = s->next = NULL;
}

void slab_list_push(struct slab_class *c, struct slab *s) {
  s->prev = NULL;
  s->next = c->partial;
  if (c->partial) c->partial->prev = s;
  c->partial = s;
}

static bool chunk_live(uint32_t chunk) {
  return slab_chunk_used[chunk / 32] & (1u << (chunk % 32));
}

/* A new slab for class c, all slots free and poisoned; NULL without memory. */
static struct slab *slab_grow(struct slab_class *c) {
  uint32_t chunk = CHUNKS;
  for (uint32_t w = 0; w < CHUNKS / 32 && chunk == CHUNKS; w++)
    if (slab_chunk_used[w] != 0xFFFFFFFFu)
      chunk = w * 32 + (uint32_t)__builtin_ctz(~slab_chunk_used[w]);
  if (chunk == CHUNKS) return NULL; /* the slab range is full */
  vaddr_t base = SLAB_BASE + chunk * SLAB_CHUNK;
  if (!heap_map_range(base, base + c->slab_bytes)) return NULL;
  slab_chunk_used[chunk / 32] |= 1u << (chunk % 32);

  struct slab *s = (struct slab *)base;
  memset(s, 0, sizeof(*s));
  s->magic = SLAB_MAGIC ^ base;
  s->class_index = (uint16_t)(c - slab_classes);
  s->slot_count = (uint16_t)c->slot_count;
  s->bytes = c->slab_bytes;
  s->max_size = c->capacity - REDZONE_BYTES;
  for (uint32_t i = c->slot_count; i-- > 0;) {
    void *p = slot_payload(s, i);
    struct block_header *h = header_of(p);
    h->canary = canary(CANARY_FREE, p);
    h->size = (uint32_t)s->free;
    h->caller = 0;
    poison(p, poison_span(c));
    s->free = h;
  }
  slab_list_push(c, s);
  return s;
}

static void slab_release(struct slab_class *c, struct slab *s) {
  vaddr_t base = (vaddr_t)s;
  if (c->empty == s) c->empty = NULL;
  s->kept = 0;
  slab_list_remove(c, s);
  s->magic = 0;
  heap_unmap_range(base, base + s->bytes);
  uint32_t chunk = (base - SLAB_BASE) / SLAB_CHUNK;
  slab_chunk_used[chunk / 32] &= ~(1u << (chunk % 32));
}

/* s has no live blocks left.  Keep one empty slab per class for reuse;
 * release s if the one kept before is still empty. */
void slab_became_empty(struct slab_class *c, struct slab *s) {
  if (s->quarantined) return; /* quarantined slots keep it alive for good */
  if (c->empty && c->empty->in_use == 0 && c->empty->quarantined == 0) {
    slab_release(c, s);
    return;
  }
  if (c->empty) c->empty->kept = 0;
  c->empty = s;
  s->kept = 1;
}

/* After corruption: rebuild the free list and counts from the canaries, the
 * only state a corrupted header cannot fake (they include the address). */
static void slab_rebuild(struct slab *s) {
  struct slab_class *c = &slab_classes[s->class_index];
  bool was_partial = s->free != NULL;
  s->free = NULL;
  s->in_use = s->quarantined = 0;
  for (uint32_t i = s->slot_count; i-- > 0;) {
    void *p = slot_payload(s, i);
    struct block_header *h = header_of(p);
    if (h->canary == canary(CANARY_FREE, p)) {
      h->size = (uint32_t)s->free;
      s->free = h;
    } else if (is_live(p)) {
      s->in_use++;
    } else {
      h->canary = canary(CANARY_QUARANTINED, p);
      s->quarantined++;
    }
  }
  if (was_partial && !s->free) slab_list_remove(c, s);
  if (!was_partial && s->free) slab_list_push(c, s);
}

static void quarantine(struct slab *s, void *p, bool was_live) {
  header_of(p)->canary = canary(CANARY_QUARANTINED, p);
  s->quarantined++;
  if (was_live) s->in_use--;
  heap_stats.quarantined++;
}

void *slab_alloc_slow(size_t size, vaddr_t caller) {
  bool debug = heap_debug_full;
  struct slab_class *c = class_for(size);
  for (;;) {
    struct slab *s = c->partial;
    if (!s && !(s = slab_grow(c))) return NULL;
    struct block_header *h = s->free;
    void *p = h + 1;
    if (h->canary != canary(CANARY_FREE, p)) {
      heap_report(HEAP_ERR_HEADER_CORRUPT, p, caller, 0);
      h->canary = canary(CANARY_QUARANTINED, p); /* its link cannot be trusted */
      heap_stats.quarantined++;
      slab_rebuild(s);
      continue;
    }
    if (!poison_exact(p, poison_span(c))) {
      heap_report(HEAP_ERR_USE_AFTER_FREE, p, caller, 0);
      s->free = (struct block_header *)h->size;
      quarantine(s, p, false);
      if (!s->free) slab_list_remove(c, s);
      continue;
    }
    /* The first free slot is sound: take it as the fast path would. */
    s->free = (struct block_header *)h->size;
    if (!s->free) slab_list_remove(c, s);
    s->in_use++;
    h->canary = canary(debug ? CANARY_LIVE_DEBUG : CANARY_LIVE, p);
    h->size = size;
    h->caller = caller;
    h->epoch = heap_epoch;
    *(uint32_t *)((uint8_t *)p + size) = REDZONE_PATTERN;
    return p;
  }
}

/* The fast path refused p: say why, and act on it. */
void slab_free_slow(void *p, vaddr_t caller) {
  uint32_t chunk = ((vaddr_t)p - SLAB_BASE) / SLAB_CHUNK;
  struct slab *s = slab_of(p);
  if (!chunk_live(chunk) || s->magic != (SLAB_MAGIC ^ (vaddr_t)s))
    return heap_report(HEAP_ERR_INVALID_POINTER, p, caller, 0);
  struct slab_class *c = &slab_classes[s->class_index];
  uint32_t offset = (vaddr_t)p - (vaddr_t)(s + 1) - sizeof(struct block_header);
  if ((vaddr_t)p < (vaddr_t)(s + 1) + sizeof(struct block_header) || offset % c->slot_size ||
      offset / c->slot_size >= s->slot_count)
    return heap_report(HEAP_ERR_INTERIOR_POINTER, p, caller, 0);
  struct block_header *h = header_of(p);
  if (h->canary == canary(CANARY_FREE, p) || h->canary == canary(CANARY_QUARANTINED, p))
    return heap_report(HEAP_ERR_DOUBLE_FREE, p, caller, 0);
  bool debug = h->canary == canary(CANARY_LIVE_DEBUG, p);
  if (debug && h->size <= c->capacity - REDZONE_BYTES &&
      *(uint32_t *)((uint8_t *)p + h->size) == REDZONE_PATTERN) {
    h->canary = canary(CANARY_LIVE, p); /* a sound heap_debug=full block: free it fully */
    slab_free(p, caller);
    poison(p, c->capacity);
    return;
  }
  if (h->canary != canary(CANARY_LIVE, p) && !debug) {
    heap_report(HEAP_ERR_HEADER_CORRUPT, p, caller, 0);
    h->canary = canary(CANARY_QUARANTINED, p);
    heap_stats.quarantined++;
    return slab_rebuild(s);
  }
  heap_report(HEAP_ERR_RED_ZONE, p, caller, h->size); /* the only check left */
  quarantine(s, p, true);
}

uint32_t slab_capacity(const void *ptr) {
  return slab_classes[slab_of(ptr)->class_index].capacity;
}

/* -- whole-heap walks (stats, leaks, checks): not on any fast path ---------- */

#define FOR_EACH_SLAB(s)                                                      \
  for (uint32_t chunk_ = 0; chunk_ < CHUNKS; chunk_++)                        \
    for (struct slab *s = chunk_live(chunk_)                                  \
                              ? (struct slab *)(SLAB_BASE + chunk_ * SLAB_CHUNK) \
                              : NULL;                                         \
         s; s = NULL)

void slab_stats(void) {
  for (uint32_t i = 0; i < HEAP_CLASS_COUNT; i++)
    heap_stats.class_live[i] = heap_stats.class_slabs[i] = 0;
  FOR_EACH_SLAB(s) {
    struct slab_class *c = &slab_classes[s->class_index];
    heap_stats.class_slabs[s->class_index]++;
    heap_stats.class_live[s->class_index] += s->in_use;
    heap_stats.live_blocks += s->in_use;
    heap_stats.bytes_in_use += s->in_use * c->slot_size;
    for (uint32_t i = 0; i < s->slot_count; i++) {
      void *p = slot_payload(s, i);
      if (is_live(p)) heap_stats.bytes_requested += header_of(p)->size;
    }
  }
}

void slab_trim(void) {
  FOR_EACH_SLAB(s) {
    if (s->in_use == 0 && s->quarantined == 0) slab_release(&slab_classes[s->class_index], s);
  }
}

uint32_t slab_leaks(uint32_t mark, uint32_t *bytes) {
  uint32_t count = 0;
  FOR_EACH_SLAB(s) {
    for (uint32_t i = 0; i < s->slot_count; i++) {
      void *p = slot_payload(s, i);
      struct block_header *h = header_of(p);
      if (is_live(p) && h->epoch >= mark) {
        krecord("LEAK addr=%p size=%u caller=%p epoch=%u\n", p, h->size, (void *)h->caller,
                h->epoch);
        count++;
        *bytes += h->size;
      }
    }
  }
  return count;
}

int slab_check(void) {
  FOR_EACH_SLAB(s) {
    if (s->magic != (SLAB_MAGIC ^ (vaddr_t)s) || s->class_index >= HEAP_CLASS_COUNT)
      return heap_check_fail("slab-header", s), -EINVAL;
    struct slab_class *c = &slab_classes[s->class_index];
    uint32_t live = 0, free = 0, quarantined = 0;
    for (uint32_t i = 0; i < s->slot_count; i++) {
      void *p = slot_payload(s, i);
      struct block_header *h = header_of(p);
      if (is_live(p)) {
        live++;
        if (h->size > c->capacity - REDZONE_BYTES ||
            *(uint32_t *)((uint8_t *)p + h->size) != REDZONE_PATTERN)
          return heap_check_fail("red-zone", p), -EINVAL;
      } else if (h->canary == canary(CANARY_FREE, p)) {
        free++;
        if (!poison_exact(p, poison_span(c))) return heap_check_fail("poison", p), -EINVAL;
      } else if (h->canary == canary(CANARY_QUARANTINED, p)) {
        quarantined++;
      } else {
        return heap_check_fail("slot-canary", p), -EINVAL;
      }
    }
    uint32_t linked = 0;
    for (struct block_header *h = s->free; h && linked <= s->slot_count;
         h = (struct block_header *)h->size) {
      if (slab_of(h) != s || h->canary != canary(CANARY_FREE, h + 1))
        return heap_check_fail("free-list", h + 1), -EINVAL;
      linked++;
    }
    if (linked != free || live != s->in_use || quarantined != s->quarantined)
      return heap_check_fail("slab-counts", s), -EINVAL;
    bool listed = false;
    for (struct slab *t = c->partial; t; t = t->next) listed |= t == s;
    if (listed != (free > 0)) return heap_check_fail("partial-list", s), -EINVAL;
  }
  return 0;
}
