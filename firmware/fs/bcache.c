/* The buffer cache (fs/bcache.h): 4 KiB blocks of the block devices, each
 * in a frame of its own from the PMM's low memory (so its kernel address is
 * the direct map), found through a hash of (device, block) and kept on an
 * LRU list while nobody holds them.
 *
 * Limits: at most bcache_max buffers (1/16 of RAM's frames, at least
 * BCACHE_MIN_BUFFERS; `bcache_max=<n>` on the command line).  A miss takes a
 * new frame while under the limit and the PMM has one, else reuses the least
 * recently used unheld buffer, writing it back first if it is dirty.  A
 * failed write-back keeps the buffer dirty (and cached) and counts it.
 *
 * The periodic flush: bcache_periodic_flush() runs at a safe point (the
 * scheduler's loop, between processes; never in an interrupt) and, once
 * BCACHE_FLUSH_TICKS worth of wall time (dev/rtc.h's clock) has passed since
 * the last one, syncs every device: a dirty buffer reaches the disk within
 * two periods without anyone calling fsync. */
#include "fs/bcache.h"
#include "dev/rtc.h"
#include "kernel/cmdline.h"
#include "kernel/errno.h"
#include "kernel/kprintf.h"
#include "kernel/timer.h"
#include "memlayout.h"
#include "mm/heap.h"
#include "mm/pmm.h"

#define BCACHE_MIN_BUFFERS 16
#define HASH_BUCKETS 64
#define SECTORS_PER_BLOCK (BCACHE_BLOCK_SIZE / BLK_SECTOR_SIZE)
#define FLUSH_SECONDS (BCACHE_FLUSH_TICKS / TIMER_HZ)

struct bcache_stats bcache_stats;
uint32_t bcache_max;
struct buf *bcache_hash[HASH_BUCKETS];            /* read by `mm cache` too */
struct buf *bcache_lru_head, *bcache_lru_tail; /* unheld buffers, most recent first */
static uint32_t last_flush;              /* rtc_seconds() at the last periodic flush */
/* Devices written to since their last cache flush: sync flushes only these
 * (a flush of a disk nobody wrote is a wasted ATA command, and a failing
 * flush of an idle disk would fail every sync). */
static bool unflushed[BLK_MAX_DEVICES];

static uint32_t bucket(const struct blk_device *dev, uint32_t block) {
  return (block * 31 + dev->index) % HASH_BUCKETS;
}

static void lru_remove(struct buf *b) {
  if (b->lru_prev) b->lru_prev->lru_next = b->lru_next;
  else bcache_lru_head = b->lru_next;
  if (b->lru_next) b->lru_next->lru_prev = b->lru_prev;
  else bcache_lru_tail = b->lru_prev;
  b->lru_prev = b->lru_next = NULL;
}

static void lru_push_front(struct buf *b) {
  b->lru_prev = NULL;
  b->lru_next = bcache_lru_head;
  if (bcache_lru_head) bcache_lru_head->lru_prev = b;
  else bcache_lru_tail = b;
  bcache_lru_head = b;
}

static void hash_insert(struct buf *b) {
  uint32_t i = bucket(b->dev, b->block);
  b->hash_next = bcache_hash[i];
  bcache_hash[i] = b;
}

static void hash_remove(struct buf *b) {
  for (struct buf **p = &bcache_hash[bucket(b->dev, b->block)]; *p; p = &(*p)->hash_next)
    if (*p == b) {
      *p = b->hash_next;
      return;
    }
}

static struct buf *lookup(const struct blk_device *dev, uint32_t block) {
  for (struct buf *b = bcache_hash[bucket(dev, block)]; b; b = b->hash_next)
    if (b->dev == dev && b->block == block) return b;
  return NULL;
}

/* Writes one dirty buffer back: 0, or the blk errno (the buffer stays dirty). */
static int write_back(struct buf *b) {
  int rc = blk_write(b->dev, (uint64_t)b->block * SECTORS_PER_BLOCK, SECTORS_PER_BLOCK, b->data);
  if (rc) {
    bcache_stats.write_errors++;
    return rc;
  }
  b->flags &= ~BUF_DIRTY;
  unflushed[b->dev->index] = true;
  bcache_stats.dirty--;
  bcache_stats.writebacks++;
  return 0;
}

static void free_buffer(struct buf *b) {
  free_page((void *)(b->pfn << FRAME_SHIFT));
  kfree(b);
  bcache_stats.buffers--;
}

/* A new buffer with its own frame, or NULL (at the limit, or no memory). */
static struct buf *new_buffer(void) {
  if (bcache_stats.buffers >= bcache_max) return NULL;
  struct buf *b = kcalloc(1, sizeof(*b));
  if (!b) return NULL;
  void *frame = allocate_page(); /* low memory: reachable through the direct map */
  if (!frame) {
    kfree(b);
    return NULL;
  }
  b->pfn = (paddr_t)frame >> FRAME_SHIFT;
  b->data = P2V((paddr_t)frame);
  bcache_stats.buffers++;
  return b;
}

/* The least recently used unheld buffer, written back if dirty, out of the
 * hash and the LRU; NULL when every buffer is held or none could be written
 * (then *err is the last write-back's error; it is untouched on success). */
static struct buf *reuse_buffer(int *err) {
  int last = 0;
  for (struct buf *b = bcache_lru_tail; b; b = b->lru_prev) {
    if (b->flags & BUF_DIRTY && (last = write_back(b)) != 0) continue;
    lru_remove(b);
    hash_remove(b);
    b->flags = 0;
    return b;
  }
  if (last) *err = last;
  return NULL;
}

/* Reads the block into b: 0 and BUF_VALID, or the blk errno. */
static int fill(struct buf *b) {
  int rc = blk_read(b->dev, (uint64_t)b->block * SECTORS_PER_BLOCK, SECTORS_PER_BLOCK, b->data);
  if (rc == 0) b->flags |= BUF_VALID;
  return rc;
}

static struct buf *get(struct blk_device *dev, uint32_t block, int *err, bool read) {
  *err = 0;
  if (!dev || !dev->present || ((uint64_t)block + 1) * SECTORS_PER_BLOCK > dev->sectors) {
    /* No such disk, or a block past its end: the blk layer's check refuses
     * it (before any buffer is touched), with its record and errno. */
    *err = blk_read(dev, (uint64_t)block * SECTORS_PER_BLOCK, SECTORS_PER_BLOCK, NULL);
    return NULL;
  }
  struct buf *b = lookup(dev, block);
  if (b) {
    if (b->refs++ == 0) lru_remove(b);
    bcache_stats.hits++;
    /* A buffer without BUF_VALID is a noread one whose holder has not filled
     * it (or never will: a failed caller that kept it).  Its data is not the
     * block, so a reader reads it first. */
    if (read && !(b->flags & BUF_VALID) && (*err = fill(b)) != 0) {
      bcache_put(b);
      return NULL;
    }
    return b;
  }
  bcache_stats.misses++;
  b = new_buffer();
  if (!b) b = reuse_buffer(err);
  if (!b) {
    if (!*err) *err = -ENOMEM;
    return NULL;
  }
  b->dev = dev;
  b->block = block;
  b->refs = 1;
  if (read && (*err = fill(b)) != 0) {
    free_buffer(b);
    return NULL;
  }
  hash_insert(b);
  return b;
}

struct buf *bcache_get(struct blk_device *dev, uint32_t block, int *err) {
  return get(dev, block, err, true);
}

struct buf *bcache_get_noread(struct blk_device *dev, uint32_t block, int *err) {
  return get(dev, block, err, false);
}

void bcache_mark_dirty(struct buf *b) {
  if (!(b->flags & BUF_DIRTY)) bcache_stats.dirty++;
  b->flags |= BUF_DIRTY | BUF_VALID;
}

void bcache_put(struct buf *b) {
  if (b->refs == 0) {
    krecord("BCACHE error=put-unheld dev=%s block=%u\n", b->dev->name, b->block);
    return;
  }
  if (--b->refs) return;
  if (!(b->flags & BUF_VALID)) { /* a noread buffer nobody filled: nothing to keep */
    hash_remove(b);
    free_buffer(b);
    return;
  }
  lru_push_front(b);
}

int bcache_sync(struct blk_device *dev) {
  int first = 0;
  for (uint32_t i = 0; i < HASH_BUCKETS; i++)
    for (struct buf *b = bcache_hash[i]; b; b = b->hash_next)
      if (b->flags & BUF_DIRTY && (!dev || b->dev == dev)) {
        int rc = write_back(b);
        if (rc && !first) first = rc;
      }
  for (uint32_t i = 0; i < BLK_MAX_DEVICES; i++) {
    struct blk_device *d = &blk_devices[i];
    if (!unflushed[i] || (dev && d != dev)) continue;
    int rc = blk_flush(d);
    if (rc && !first) first = rc;
    else if (!rc) unflushed[i] = false;
  }
  return first;
}

uint32_t bcache_reclaim(uint32_t frames) {
  uint32_t freed = 0;
  for (struct buf *b = bcache_lru_tail, *prev; b && freed < frames; b = prev) {
    prev = b->lru_prev;
    if (b->flags & BUF_DIRTY) continue; /* only clean buffers: reclaim never writes */
    lru_remove(b);
    hash_remove(b);
    free_buffer(b);
    freed++;
  }
  bcache_stats.reclaimed += freed;
  return freed;
}

void bcache_periodic_flush(void) {
  if (!bcache_stats.dirty) return; /* the common case costs no clock read */
  if (!rtc_elapsed(last_flush, FLUSH_SECONDS)) return;
  last_flush = rtc_seconds();
  bcache_sync(NULL);
}

void bcache_init(void) {
  uint32_t frames = get_total_memory() / FRAME_SIZE;
  uint32_t dflt = frames / 16 > BCACHE_MIN_BUFFERS ? frames / 16 : BCACHE_MIN_BUFFERS;
  bcache_max = cmdline_uint("bcache_max", dflt);
  if (bcache_max < 1) bcache_max = 1;
  last_flush = rtc_seconds();
  krecord("BCACHE block=%u max_buffers=%u flush_seconds=%u\n", BCACHE_BLOCK_SIZE, bcache_max,
          FLUSH_SECONDS);
}
