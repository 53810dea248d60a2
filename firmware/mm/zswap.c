/* The compressed swap pool (contract in mm/zswap.h).
 *
 * Each entry is one kmalloc block: the header, then the compressed bytes, so
 * the pool's memory comes from the kernel heap and goes back to it when an
 * entry is loaded for the last time, invalidated or written back.  Lookup is a
 * hash on the slot number; compressed entries are also on a list in the order
 * they were stored, so write-back takes the oldest first. */
#include "mm/zswap.h"

#include "kernel/errno.h"
#include "kernel/kprintf.h"
#include "lib/lz.h"
#include "lib/string.h"
#include "mm/heap.h"

struct zswap_stats zswap_stats;
struct zswap_entry *zswap_buckets[ZSWAP_BUCKETS];
struct zswap_entry *zswap_oldest;
static struct zswap_entry *zswap_newest;
static zswap_writeback_fn writeback_fn;

/* Scratch space: one store or write-back at a time (the kernel runs one
 * thing at a time; the SMP work will make these per CPU). */
static struct lz_work lz_work;
static uint8_t packed[ZSWAP_MAX_COMPRESSED];
static uint8_t unpacked[4096] __attribute__((aligned(4096)));

#define PAGE_BYTES 4096u

void zswap_init(uint32_t max_bytes, zswap_writeback_fn writeback) {
  zswap_stats.max_bytes = max_bytes;
  writeback_fn = writeback;
  krecord("ZSWAP max_bytes=%u enabled=%u\n", max_bytes, max_bytes ? 1u : 0u);
}

static struct zswap_entry **bucket_of(uint32_t slot) {
  return &zswap_buckets[slot % ZSWAP_BUCKETS];
}

static struct zswap_entry *find(uint32_t slot) {
  struct zswap_entry *e = *bucket_of(slot);
  while (e && e->slot != slot) e = e->hash_next;
  return e;
}

/* Whether the page is one 32-bit value repeated; the value in *value. */
static bool same_filled(const uint32_t *words, uint32_t *value) {
  uint32_t first = words[0];
  for (uint32_t i = 1; i < PAGE_BYTES / 4; i++)
    if (words[i] != first) return false;
  *value = first;
  return true;
}

static void link_newest(struct zswap_entry *e) {
  e->older = zswap_newest;
  e->newer = NULL;
  if (zswap_newest) zswap_newest->newer = e;
  else zswap_oldest = e;
  zswap_newest = e;
}

static void unlink_age(struct zswap_entry *e) {
  if (e->older) e->older->newer = e->newer;
  else zswap_oldest = e->newer;
  if (e->newer) e->newer->older = e->older;
  else zswap_newest = e->older;
}

/* Drops e from the pool and frees it. */
static void drop_entry(struct zswap_entry *e) {
  struct zswap_entry **link = bucket_of(e->slot);
  while (*link != e) link = &(*link)->hash_next;
  *link = e->hash_next;
  if (e->len) {
    unlink_age(e);
    zswap_stats.pool_bytes -= e->len;
  } else {
    zswap_stats.same_filled--;
  }
  zswap_stats.stored_pages--;
  kfree(e);
}

static void fill_words(uint32_t *words, uint32_t value) {
  uint32_t count = PAGE_BYTES / 4;
  __asm__ volatile("rep stosl" : "+D"(words), "+c"(count) : "a"(value) : "memory");
}

/* The page e holds, into page: 0, or -EIO when it does not decode to a
 * whole page (recorded: the pool was corrupted). */
static int unpack(const struct zswap_entry *e, void *page) {
  if (!e->len) {
    fill_words(page, e->value);
    return 0;
  }
  int32_t n = lz_decompress(e->data, e->len, page, PAGE_BYTES);
  if (n == (int32_t)PAGE_BYTES) return 0;
  krecord("ZSWAP error=corrupt slot=%u len=%u decoded=%d\n", e->slot, e->len, n);
  return -EIO;
}

/* Writes the oldest compressed entry to disk and drops it: false when there
 * is none, no write-back function, or the write failed (the entry stays). */
static bool write_back_oldest(void) {
  struct zswap_entry *e = zswap_oldest;
  if (!e || !writeback_fn || unpack(e, unpacked) < 0) return false;
  if (writeback_fn(e->slot, unpacked) < 0) {
    zswap_stats.writeback_errors++;
    return false;
  }
  zswap_stats.writebacks++;
  drop_entry(e);
  return true;
}

uint32_t zswap_shrink(uint32_t target_bytes) {
  uint32_t written = 0;
  while (zswap_stats.pool_bytes > target_bytes && write_back_oldest()) written++;
  return written;
}

/* Writes back old entries until len more bytes fit under the cap. */
static bool make_room(uint32_t len) {
  if (len > zswap_stats.max_bytes) return false;
  zswap_shrink(zswap_stats.max_bytes - len);
  return zswap_stats.pool_bytes + len <= zswap_stats.max_bytes;
}

int zswap_store(uint32_t slot, const void *page) {
  if (!zswap_stats.max_bytes) return -ENOSPC;
  if (find(slot)) return -EEXIST;
  uint32_t value = 0, len = 0;
  if (!same_filled(page, &value)) {
    len = lz_compress(page, PAGE_BYTES, packed, sizeof(packed), &lz_work);
    if (!len) {
      zswap_stats.rejected++;
      return -E2BIG;
    }
    if (!make_room(len)) {
      zswap_stats.rejected++;
      return -ENOSPC;
    }
  }
  struct zswap_entry *e = kmalloc(sizeof(*e) + len);
  if (!e) return -ENOMEM;
  e->slot = slot;
  e->len = len;
  e->value = value;
  memcpy(e->data, packed, len);
  e->hash_next = *bucket_of(slot);
  *bucket_of(slot) = e;
  if (len) {
    link_newest(e);
    zswap_stats.pool_bytes += len;
  } else {
    zswap_stats.same_filled++;
  }
  zswap_stats.stored_pages++;
  zswap_stats.stores++;
  return 0;
}

int zswap_load(uint32_t slot, void *page) {
  struct zswap_entry *e = find(slot);
  if (!e) return -ENOENT;
  int err = unpack(e, page);
  if (!err) zswap_stats.loads++;
  return err;
}

void zswap_invalidate(uint32_t slot) {
  struct zswap_entry *e = find(slot);
  if (!e) return;
  zswap_stats.invalidates++;
  drop_entry(e);
}
