/* The buffer cache: BCACHE_BLOCK_SIZE-byte blocks of a block device, keyed by
 * (device, block number), each in its own frame.  Every reader of a disk's
 * metadata and every raw-device read/write goes through it.
 *
 * A buffer is held (refs > 0) between bcache_get and bcache_put; a held buffer
 * is never reclaimed or reused.  Unheld buffers form an LRU; a dirty one is
 * written back before it is reused, by bcache_sync and by the periodic flush
 * (which syncs everything once BCACHE_FLUSH_TICKS have passed).  Under memory
 * pressure (bcache_reclaim, called first by mm/reclaim.c) clean unheld
 * buffers give back their frames before anything else is touched; reclaim
 * never writes, so dirty buffers stay until a sync.
 *
 * Errors: bcache_get returns NULL and *err < 0 (the blk errno) when the block
 * cannot be read; a failed write-back leaves the buffer dirty and counts it,
 * with the blk layer's DISK record. */
#pragma once

#include "dev/blk.h"
#include "types.h"

#define BCACHE_BLOCK_SIZE 4096u
#define BCACHE_FLUSH_TICKS 500     /* 5 s at TIMER_HZ 100 */

struct buf {
  struct blk_device *dev;
  uint32_t block;                  /* in BCACHE_BLOCK_SIZE units */
  uint32_t refs;                   /* holders (bcache_get .. bcache_put) */
  uint32_t flags;                  /* BUF_* */
  pfn_t pfn;                       /* the frame holding the data */
  uint8_t *data;                   /* its kernel address */
  struct buf *lru_prev, *lru_next; /* unheld buffers, most recent first */
  struct buf *hash_next;
};
#define BUF_VALID 0x1   /* data holds the block */
#define BUF_DIRTY 0x2   /* data is newer than the disk */

struct bcache_stats {
  uint32_t buffers;                /* allocated now (each one frame) */
  uint32_t dirty;
  uint32_t hits, misses;
  uint32_t writebacks;             /* blocks written back */
  uint32_t reclaimed;              /* frames given back under pressure */
  uint32_t write_errors;
};
extern struct bcache_stats bcache_stats;
/* The cache itself, for `mm cache` and the tests: the hash chains, the LRU
 * of unheld buffers (most recent first) and the limit on buffers. */
extern struct buf *bcache_hash[];
extern struct buf *bcache_lru_head, *bcache_lru_tail;
extern uint32_t bcache_max;

void bcache_init(void);
/* The block, read from the disk unless cached (a cached buffer that is not
 * BUF_VALID, a noread one not yet filled, is read first); held until
 * bcache_put.  *err is 0 on success. */
struct buf *bcache_get(struct blk_device *dev, uint32_t block, int *err);
/* Same, without reading: for a block about to be wholly overwritten. */
struct buf *bcache_get_noread(struct blk_device *dev, uint32_t block, int *err);
void bcache_mark_dirty(struct buf *b);
void bcache_put(struct buf *b);
/* Writes back every dirty buffer of dev (NULL: of every device), then flushes
 * the write cache of each such device that had a write-back since its last
 * flush.  0, or the first error. */
int bcache_sync(struct blk_device *dev);
/* Gives back up to `frames` frames of clean unheld buffers; how many it freed. */
uint32_t bcache_reclaim(uint32_t frames);
/* Called at the scheduler loop's safe point (never in an interrupt): once
 * BCACHE_FLUSH_TICKS worth of RTC seconds have passed since the last one,
 * bcache_sync(NULL), so a dirty buffer reaches the disk within two periods. */
void bcache_periodic_flush(void);
