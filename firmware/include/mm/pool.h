/* Memory pools with a reserve: for kernel paths that must not fail.
 *
 * pool_create(name, object_size, min_objects) sets aside min_objects objects
 * at once (the reserve; fewer if memory is short then, and frees fill it).
 * pool_alloc asks the normal allocator first (a direct-mapped frame,
 * reclaiming if need be, for PAGE_SIZE objects; kmalloc for smaller ones) and
 * takes from the reserve only when that fails, so the reserve is there when
 * the PMM is exhausted.  pool_free refills the reserve
 * up to min_objects before anything goes back to the normal allocator, and
 * an allocation the normal allocator served tops a short reserve up by one
 * object (without reclaiming), so the reserve is whole again once memory
 * is back even while nothing is freed.
 * Objects come zeroed.  pool_alloc_normal never touches the reserve (for the
 * same objects on paths that may fail).
 *
 * Records (krecord):
 *   POOL name=<n> event=create object=<bytes> min=<n> reserve=<n>
 *   POOL name=<n> event=reserve-use reserve=<left> in_use=<n>   (each use)
 *   POOL name=<n> event=exhausted in_use=<n>                     (a failure)
 *   POOL name=<n> error=foreign addr=<hex> caller=<hex>          (refused free)
 * Every pool is in pool_table (the harness reads it; `mm pools` prints it). */
#pragma once

#include "types.h"

#define POOL_MAX 8
#define POOL_FRAME_POOLS 2 /* pools of PAGE_SIZE objects at most (a static bitmap each) */
#define POOL_NAME_MAX 16

struct pool {
  char name[POOL_NAME_MAX];
  uint32_t object_size;   /* PAGE_SIZE: frames; less: kmalloc'd with a header */
  uint32_t min_objects;   /* the reserve's size when full */
  uint32_t reserve_level; /* objects in the reserve now */
  uint32_t in_use;        /* objects handed out and not freed */
  uint32_t reserve_hits;  /* allocations the reserve served */
  uint32_t failures;      /* allocations that got nothing */
  uint32_t refills;       /* frees that went to the reserve */
  uint32_t top_ups;       /* objects the normal allocator added to a short reserve */
  uint32_t foreign_frees; /* pool_free calls refused */
  void *reserve;          /* the reserve's objects, linked through their first word */
  uint32_t *owned;        /* frame pools: a bit per direct-mapped frame handed out */
};

extern struct pool pool_table[POOL_MAX];
extern uint32_t pool_count;

/* A pool with its reserve filled (as far as memory allows: the create
 * record says how far; frees fill it up), or NULL (no table slot, or a bad
 * size).  A frame pool's ownership bitmap is static, so creating one at boot
 * maps nothing in the heap. */
struct pool *pool_create(const char *name, size_t object_size, uint32_t min_objects);
/* A zeroed object: the normal allocator's, else the reserve's; NULL if both fail. */
void *pool_alloc(struct pool *pool);
/* A zeroed object from the normal allocator only, or NULL. */
void *pool_alloc_normal(struct pool *pool);
/* Gives obj back (to the reserve while it is short): 0, or -EINVAL after a
 * record for an object this pool did not hand out. */
int pool_free(struct pool *pool, void *obj);
