/* The page cache: pages of the file system's files, keyed by (file, page
 * index), each in one user frame shared by every read() and every mapping of
 * that page (fs/pagecache.c).
 *
 * The cache holds one reference on each of its frames (frame_ref) and marks
 * them FRAME_PAGECACHE; a mapping takes one more (PAGE_OWNED).  A page stays
 * until pagecache_reclaim gives it back, which it does only for pages nobody
 * else holds (refs == 1), least recently used first.  File data is read
 * from the disk straight into the cache's frame (fs_read_page), not through
 * the buffer cache.
 *
 * Readahead: a miss on page i reads page i and then up to
 * PAGECACHE_READAHEAD more pages of the same file (i+1 .. i+READAHEAD, those
 * that exist and are not cached yet): a sequential reader's next few calls
 * are hits.  Readahead takes only free frames, none at or below
 * RECLAIM_RESERVE (mm/reclaim.h), and never reclaims.  A readahead page that
 * cannot be had (no frame, a read error) ends the readahead and is not
 * cached; only the page asked for makes the call fail.
 *
 * Lookup is a hash of PAGECACHE_BUCKETS chains; a hit moves the page to the
 * front of the LRU list.  Each miss, error and eviction is counted; there
 * are no records on the hot path.  A read error (readahead's too) is one record
 *   PAGECACHE error=io ino=<n> page=<n> err=<errno> */
#pragma once

#include "types.h"

#define PAGECACHE_READAHEAD 3
#define PAGECACHE_BUCKETS 256

struct fs_file;

struct pc_page {
  uint32_t ino;                     /* the file (struct fs_file's ino) */
  uint32_t index;                   /* page index within it */
  pfn_t pfn;
  struct pc_page *hash_next;
  struct pc_page *lru_prev, *lru_next; /* most recently used first */
};

struct pagecache_stats {
  uint32_t pages;                   /* cached now (each one frame) */
  uint32_t hits, misses;            /* lookups of the page asked for */
  uint32_t readahead;               /* pages read ahead of a miss */
  uint32_t evictions;               /* pages given back by pagecache_reclaim */
  uint32_t read_errors;
};
extern struct pagecache_stats pagecache_stats;
extern struct pc_page *pagecache_hash[PAGECACHE_BUCKETS];
extern struct pc_page *pagecache_lru; /* the most recently used page */

/* The frame holding page `index` of f, read from the disk on a miss (with
 * readahead): its number, or 0 with *err the negative errno (-EIO from the
 * disk, -ENOMEM without a frame, -EINVAL past the end of the file).  The
 * frame stays valid until the caller next allocates memory or calls
 * pagecache_reclaim: take a reference (frame_ref) to keep it longer. */
pfn_t pagecache_get(const struct fs_file *f, uint32_t index, int *err);
/* Gives back up to `frames` frames of pages only the cache holds, least
 * recently used first: how many it gave back. */
uint32_t pagecache_reclaim(uint32_t frames);
/* read() of a file: copies up to len bytes at byte `off` of f to the user
 * buffer buf, straight from the cached frames (misses read the disk first):
 * bytes copied (0 at or past the end), or a negative errno when nothing was
 * (-EFAULT for a bad buffer, the disk's error).  A frame being copied is
 * never reclaimed meanwhile (the copy may fault in the buffer's pages). */
int32_t pagecache_read(const struct fs_file *f, vaddr_t buf, uint32_t len, uint32_t off);
