/* The compressed swap pool (the seed's memory compression), in front of the
 * swap disk.  mm/swap.c offers every page it swaps out here first:
 *   - a page that is one 32-bit value repeated is stored as that value;
 *   - a page that lz_compress (lib/lz.h) shrinks to at most
 *     ZSWAP_MAX_COMPRESSED bytes is stored compressed in the pool;
 *   - anything else is refused (-E2BIG): swap writes it to the disk.
 * The pool's compressed bytes are capped (zswap_init's max_bytes; kernel
 * command line zswap_max=<KiB>, zswap=off to disable).  A store that would pass
 * the cap first writes back the oldest entries, through the writeback
 * function swap registers, until it fits; when that cannot make room the
 * store is refused with -ENOSPC and swap uses the disk.
 * Entries are keyed by swap slot; the pool never holds two for one slot.
 * Only compressed entries count against the cap and are written back; a
 * same-filled entry costs its small header alone.  The cap counts compressed
 * bytes, not the heap's headers and rounding around them (about 32 bytes an
 * entry more).
 *
 * The harness reads the pool from guest RAM (tests/swap, `mm swap`): every
 * entry is in zswap_buckets[slot % ZSWAP_BUCKETS]'s chain, compressed ones
 * also in the list from zswap_oldest (oldest first), their bytes right after
 * the header, decoded on the host by harness/decode/lz.py. */
#pragma once

#include "types.h"

#define ZSWAP_MAX_COMPRESSED 3072u   /* worth keeping: at most 3/4 of a page */
#define ZSWAP_BUCKETS 1024u

struct zswap_entry {
  uint32_t slot;
  uint32_t len;                      /* compressed bytes; 0: same-filled with value */
  uint32_t value;
  struct zswap_entry *hash_next;
  struct zswap_entry *older, *newer; /* compressed entries only */
  uint8_t data[];                    /* len bytes, lib/lz.h's format */
};
extern struct zswap_entry *zswap_buckets[ZSWAP_BUCKETS];
extern struct zswap_entry *zswap_oldest;

struct zswap_stats {
  uint32_t stored_pages;     /* entries now, same-filled included */
  uint32_t same_filled;      /* entries now stored as one value */
  uint32_t pool_bytes;       /* compressed bytes held now */
  uint32_t max_bytes;        /* the cap */
  uint32_t stores, loads, invalidates;
  uint32_t rejected;         /* stores refused: incompressible, or no room */
  uint32_t writebacks;       /* entries written back to disk, oldest first */
  uint32_t writeback_errors;
};
/* The compression ratio is (stored_pages - same_filled) * 4096 / pool_bytes. */
extern struct zswap_stats zswap_stats;

/* Writes page (4096 bytes) to slot on the disk: 0 or a negative errno. */
typedef int (*zswap_writeback_fn)(uint32_t slot, const void *page);

/* Enables the pool with a cap of max_bytes compressed bytes (0: disabled,
 * every store refused).  One record:
 *   ZSWAP max_bytes=<n> enabled=<0|1> */
void zswap_init(uint32_t max_bytes, zswap_writeback_fn writeback);
/* 0 (stored), -E2BIG (incompressible: not stored), -ENOSPC (no room even
 * after write-back), -EEXIST (slot already stored), -ENOMEM. */
int zswap_store(uint32_t slot, const void *page);
/* Fills page from slot's entry: 0, -ENOENT (not in the pool), -EIO (the
 * entry does not decompress to a whole page: a kernel bug, recorded). */
int zswap_load(uint32_t slot, void *page);
/* Forgets slot's entry (the slot was freed or its page is back in RAM). */
void zswap_invalidate(uint32_t slot);
/* Writes back entries, oldest first, until pool_bytes <= target: how many
 * went to disk. */
uint32_t zswap_shrink(uint32_t target_bytes);
