/* Memory pools with a reserve (include/mm/pool.h). */
#include "mm/pool.h"
#include "kernel/errno.h"
#include "kernel/kprintf.h"
#include "lib/string.h"
#include "memlayout.h"
#include "mm/fault.h"
#include "mm/heap.h"
#include "mm/pmm.h"
#include "mm/reclaim.h"
#include "mm/vmm.h"

/* Small objects carry this header (16 bytes keep kmalloc's alignment): the
 * pool's address ^ POOL_MAGIC while handed out, 0 otherwise. */
#define POOL_MAGIC 0x9001B10Cu
#define HEADER 16u

#define DIRECT_FRAMES (DIRECT_MAP_LIMIT / PAGE_SIZE)

struct pool pool_table[POOL_MAX];
uint32_t pool_count;
static uint32_t frame_owned[POOL_FRAME_POOLS][DIRECT_FRAMES / 32];
static uint32_t frame_pools;

static bool is_frame_pool(const struct pool *pool) { return pool->object_size == PAGE_SIZE; }

static void owned_set(struct pool *pool, void *obj, bool on) {
  uint32_t pfn = V2P(obj) >> PAGE_SHIFT;
  if (on) pool->owned[pfn / 32] |= 1u << (pfn % 32);
  else pool->owned[pfn / 32] &= ~(1u << (pfn % 32));
}

/* Whether obj is one of the pool's objects handed out (read safely: a
 * foreign pointer may point anywhere). */
static bool handed_out(const struct pool *pool, void *obj) {
  if (is_frame_pool(pool)) {
    vaddr_t va = (vaddr_t)obj;
    if (!IS_ALIGNED(va, PAGE_SIZE) || va < KERNEL_BASE || va - KERNEL_BASE >= DIRECT_MAP_LIMIT)
      return false;
    uint32_t pfn = V2P(obj) >> PAGE_SHIFT;
    return pool->owned[pfn / 32] >> (pfn % 32) & 1;
  }
  uint32_t word;
  return IS_ALIGNED((vaddr_t)obj, 16) && probe_read32((vaddr_t)obj - HEADER, &word) == 0 &&
         word == ((uint32_t)pool ^ POOL_MAGIC);
}

/* One object from the normal allocator (not zeroed), or NULL.  A frame pool's
 * frames are direct-mapped, as page tables must be; like any kernel frame
 * the kernel needs, one that cannot be had makes reclaim try once (when
 * may_reclaim: a top-up of the reserve is not worth evicting pages for). */
static void *normal_alloc(struct pool *pool, bool may_reclaim) {
  if (is_frame_pool(pool)) {
    paddr_t pa = alloc_kernel_frame();
    if (!pa && may_reclaim && reclaim_frames(1)) pa = alloc_kernel_frame();
    return pa ? P2V(pa) : NULL;
  }
  uint8_t *p = kmalloc(HEADER + pool->object_size);
  return p ? p + HEADER : NULL;
}

static void normal_free(struct pool *pool, void *obj) {
  if (is_frame_pool(pool)) free_page((void *)V2P(obj));
  else kfree((uint8_t *)obj - HEADER);
}

static void reserve_push(struct pool *pool, void *obj) {
  *(void **)obj = pool->reserve;
  pool->reserve = obj;
  pool->reserve_level++;
}

static void *reserve_pop(struct pool *pool) {
  void *obj = pool->reserve;
  pool->reserve = *(void **)obj;
  pool->reserve_level--;
  return obj;
}

/* obj handed out: marked the pool's, zeroed. */
static void *hand_out(struct pool *pool, void *obj) {
  if (is_frame_pool(pool)) owned_set(pool, obj, true);
  else *(uint32_t *)((uint8_t *)obj - HEADER) = (uint32_t)pool ^ POOL_MAGIC;
  memset(obj, 0, pool->object_size);
  pool->in_use++;
  return obj;
}

struct pool *pool_create(const char *name, size_t object_size, uint32_t min_objects) {
  if (pool_count == POOL_MAX || object_size < sizeof(void *) ||
      (object_size > PAGE_SIZE - HEADER && object_size != PAGE_SIZE))
    return NULL;
  struct pool *pool = &pool_table[pool_count];
  memset(pool, 0, sizeof(*pool));
  strlcpy(pool->name, name, sizeof(pool->name));
  pool->object_size = (uint32_t)object_size;
  pool->min_objects = min_objects;
  if (is_frame_pool(pool)) {
    if (frame_pools == POOL_FRAME_POOLS) return NULL;
    pool->owned = frame_owned[frame_pools]; /* taken for good once the pool exists */
  }
  /* As much of the reserve as there is memory for: a machine booted short
   * of low frames still gets its pool, and frees fill the reserve up. */
  for (void *obj; pool->reserve_level < min_objects && (obj = normal_alloc(pool, true));)
    reserve_push(pool, obj);
  pool_count++;
  if (is_frame_pool(pool)) frame_pools++;
  krecord("POOL name=%s event=create object=%u min=%u reserve=%u\n", pool->name,
          pool->object_size, min_objects, pool->reserve_level);
  return pool;
}

/* After the normal allocator served: one object into a reserve that a use
 * left short, so that the reserve is whole again once memory is back, even
 * while no object is freed (long-lived processes keep their page tables).
 * One per allocation is enough, and it never reclaims. */
static void top_up(struct pool *pool) {
  if (pool->reserve_level >= pool->min_objects) return;
  void *obj = normal_alloc(pool, false);
  if (!obj) return;
  reserve_push(pool, obj);
  pool->top_ups++;
}

void *pool_alloc_normal(struct pool *pool) {
  void *obj = normal_alloc(pool, true);
  if (obj) {
    top_up(pool);
    return hand_out(pool, obj);
  }
  pool->failures++;
  return NULL;
}

void *pool_alloc(struct pool *pool) {
  void *obj = normal_alloc(pool, true);
  if (obj) {
    top_up(pool);
    return hand_out(pool, obj);
  }
  if (pool->reserve_level) {
    obj = reserve_pop(pool);
    pool->reserve_hits++;
    krecord("POOL name=%s event=reserve-use reserve=%u in_use=%u\n", pool->name,
            pool->reserve_level, pool->in_use + 1);
    return hand_out(pool, obj);
  }
  pool->failures++;
  krecord("POOL name=%s event=exhausted in_use=%u\n", pool->name, pool->in_use);
  return NULL;
}

int pool_free(struct pool *pool, void *obj) {
  if (!handed_out(pool, obj)) {
    pool->foreign_frees++;
    krecord("POOL name=%s error=foreign addr=%p caller=%p\n", pool->name, obj,
            (void *)CALLER());
    return -EINVAL;
  }
  if (is_frame_pool(pool)) owned_set(pool, obj, false);
  else *(uint32_t *)((uint8_t *)obj - HEADER) = 0;
  pool->in_use--;
  if (pool->reserve_level < pool->min_objects) {
    reserve_push(pool, obj);
    pool->refills++;
  } else {
    normal_free(pool, obj);
  }
  return 0;
}
