/* The page cache (include/fs/pagecache.h): a hash of (file, page) to frame,
 * an LRU list for eviction, readahead on a miss. */
#include "fs/pagecache.h"
#include "fs/fs.h"
#include "kernel/errno.h"
#include "kernel/kprintf.h"
#include "kernel/proc.h"
#include "mm/frame.h"
#include "mm/heap.h"
#include "mm/pmm.h"
#include "mm/reclaim.h"
#include "mm/uvm.h"
#include "mm/vmm.h"

struct pagecache_stats pagecache_stats;
struct pc_page *pagecache_hash[PAGECACHE_BUCKETS];
struct pc_page *pagecache_lru;     /* most recently used */
static struct pc_page *lru_tail;   /* least recently used */
/* The frame pagecache_read is copying from: reclaim leaves it alone (the
 * copy's own faults may allocate, and allocating may reclaim).  Cheaper on
 * the read path than a reference taken and dropped. */
static pfn_t copying;

static inline uint32_t bucket(uint32_t ino, uint32_t index) {
  return (ino * 31u + index) % PAGECACHE_BUCKETS;
}

static void lru_unlink(struct pc_page *p) {
  if (p->lru_prev) p->lru_prev->lru_next = p->lru_next;
  else pagecache_lru = p->lru_next;
  if (p->lru_next) p->lru_next->lru_prev = p->lru_prev;
  else lru_tail = p->lru_prev;
}

static void lru_push_front(struct pc_page *p) {
  p->lru_prev = NULL;
  p->lru_next = pagecache_lru;
  if (pagecache_lru) pagecache_lru->lru_prev = p;
  else lru_tail = p;
  pagecache_lru = p;
}

static struct pc_page *find(uint32_t ino, uint32_t index) {
  for (struct pc_page *p = pagecache_hash[bucket(ino, index)]; p; p = p->hash_next)
    if (p->ino == ino && p->index == index) return p;
  return NULL;
}

/* Reads page `index` of f into a new frame and caches it: the entry, or NULL
 * with *err set.  The page asked for may make room (mm/reclaim.h: clean
 * buffers, unmapped file pages, swap); readahead (`reclaim` false) takes
 * only a free frame above RECLAIM_RESERVE: making room for it could evict
 * the page just read for the caller, and the reserve is for the allocations
 * that must not fail. */
static struct pc_page *fill(const struct fs_file *f, uint32_t index, bool reclaim, int *err) {
  if (!reclaim && pmm_stats.free_frames <= RECLAIM_RESERVE) {
    *err = -ENOMEM;
    return NULL;
  }
  struct pc_page *p = kmalloc(sizeof(*p));
  pfn_t pfn = p ? (reclaim ? reclaim_user_frame() : pmm_alloc_user_frame()) : 0;
  if (!pfn) {
    kfree(p);
    *err = -ENOMEM;
    return NULL;
  }
  int rc = fs_read_page(f, index, pfn);
  if (rc) {
    pmm_free_frame(pfn);
    kfree(p);
    pagecache_stats.read_errors++;
    krecord("PAGECACHE error=io ino=%u page=%u err=%d\n", f->ino, index, rc);
    *err = rc;
    return NULL;
  }
  frame_ref(pfn); /* the cache's own reference */
  frame_table[pfn].flags |= FRAME_PAGECACHE;
  *p = (struct pc_page){.ino = f->ino, .index = index, .pfn = pfn};
  uint32_t b = bucket(f->ino, index);
  p->hash_next = pagecache_hash[b];
  pagecache_hash[b] = p;
  lru_push_front(p);
  pagecache_stats.pages++;
  return p;
}

pfn_t pagecache_get(const struct fs_file *f, uint32_t index, int *err) {
  uint32_t pages = (f->size + PAGE_SIZE - 1) / PAGE_SIZE;
  if (index >= pages) {
    *err = -EINVAL;
    return 0;
  }
  struct pc_page *p = find(f->ino, index);
  if (p) {
    pagecache_stats.hits++;
    if (p != pagecache_lru) {
      lru_unlink(p);
      lru_push_front(p);
    }
    return p->pfn;
  }
  pagecache_stats.misses++;
  if (!(p = fill(f, index, true, err))) return 0;
  /* Readahead: the next pages, in order, behind the page asked for in the
   * LRU (it stays the most recent; the last page read ahead is the oldest
   * of them, as it will be used last). */
  struct pc_page *after = p;
  for (uint32_t next = index + 1; next <= index + PAGECACHE_READAHEAD && next < pages; next++) {
    if (find(f->ino, next)) continue;
    int ignored;
    struct pc_page *ahead = fill(f, next, false, &ignored);
    if (!ahead) break;
    lru_unlink(ahead);
    ahead->lru_prev = after;
    ahead->lru_next = after->lru_next;
    if (after->lru_next) after->lru_next->lru_prev = ahead;
    else lru_tail = ahead;
    after->lru_next = ahead;
    after = ahead;
    pagecache_stats.readahead++;
  }
  return p->pfn;
}

static void hash_unlink(struct pc_page *p) {
  struct pc_page **link = &pagecache_hash[bucket(p->ino, p->index)];
  while (*link != p) link = &(*link)->hash_next;
  *link = p->hash_next;
}

uint32_t pagecache_reclaim(uint32_t frames) {
  uint32_t freed = 0;
  for (struct pc_page *p = lru_tail, *prev; p && freed < frames; p = prev) {
    prev = p->lru_prev;
    if (frame_refs(p->pfn) != 1 || p->pfn == copying) continue; /* not ours alone */
    lru_unlink(p);
    hash_unlink(p);
    frame_unref(p->pfn); /* the last reference: back to the PMM */
    kfree(p);
    pagecache_stats.pages--;
    pagecache_stats.evictions++;
    freed++;
  }
  return freed;
}

int32_t pagecache_read(const struct fs_file *f, vaddr_t buf, uint32_t len, uint32_t off) {
  if (off >= f->size) return 0;
  if (len > f->size - off) len = f->size - off;
  uint32_t done = 0;
  while (done < len) {
    if (done) sched_preempt_point(); /* between pages: a long read stays preemptible */
    uint32_t pos = off + done, in_page = pos % PAGE_SIZE;
    uint32_t n = MIN(PAGE_SIZE - in_page, len - done);
    int err;
    pfn_t pfn = pagecache_get(f, pos / PAGE_SIZE, &err);
    if (!pfn) return done ? (int32_t)done : err;
    copying = pfn;
    const uint8_t *k = kmap_pfn(pfn);
    int rc = copy_to_user(buf + done, k + in_page, n);
    kunmap((void *)k);
    copying = 0;
    if (rc) return done ? (int32_t)done : rc;
    done += n;
  }
  return (int32_t)done;
}
