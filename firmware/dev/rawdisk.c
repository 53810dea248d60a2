/* Raw disks as files, through the buffer cache (see dev/rawdisk.h). */
#include "dev/rawdisk.h"
#include "dev/blk.h"
#include "fs/bcache.h"
#include "kernel/errno.h"
#include "kernel/fcntl.h"
#include "kernel/file.h"
#include "fs/fs.h"
#include "kernel/kprintf.h"
#include "mm/swap.h"
#include "mm/uvm.h"

#define SIZE_MAX32 0xFFFFFFFFu

/* The disk's size as a file: whole blocks only (the buffer cache cannot
 * hold a partial last block), at most 4 GiB - 4 KiB (offsets are 32 bits). */
static uint32_t disk_bytes(const struct blk_device *d) {
  uint64_t bytes = d->sectors * BLK_SECTOR_SIZE;
  if (bytes > SIZE_MAX32) bytes = SIZE_MAX32;
  return (uint32_t)bytes / BCACHE_BLOCK_SIZE * BCACHE_BLOCK_SIZE;
}

/* Moves len bytes between user memory and the disk at off, one block at a
 * time: bytes moved (fewer when it hits the end, or a fault after some
 * progress) or -errno. */
static int32_t transfer(struct file *f, vaddr_t user, uint32_t len, uint32_t off, bool write) {
  struct blk_device *d = f->priv;
  if (off >= f->size) return write && len ? -ENOSPC : 0;
  if (len > f->size - off) len = f->size - off;
  uint32_t done = 0;
  while (done < len) {
    uint32_t pos = off + done, in_block = pos % BCACHE_BLOCK_SIZE;
    uint32_t n = BCACHE_BLOCK_SIZE - in_block;
    if (n > len - done) n = len - done;
    int err;
    /* A block wholly overwritten needs no read first. */
    struct buf *b = write && n == BCACHE_BLOCK_SIZE
                        ? bcache_get_noread(d, pos / BCACHE_BLOCK_SIZE, &err)
                        : bcache_get(d, pos / BCACHE_BLOCK_SIZE, &err);
    if (!b) return done ? (int32_t)done : err;
    int rc = write ? copy_from_user(b->data + in_block, user + done, n)
                   : copy_to_user(user + done, b->data + in_block, n);
    /* A copy that faults part-way has changed some bytes of a valid buffer
     * all the same: dirty, so that the cache and the disk agree after a sync.
     * A noread buffer it did not fill holds no block: put drops it. */
    if (write && (rc == 0 || b->flags & BUF_VALID)) bcache_mark_dirty(b);
    bcache_put(b);
    if (rc) return done ? (int32_t)done : rc;
    done += n;
  }
  return (int32_t)done;
}

static int32_t raw_read(struct file *f, vaddr_t user, uint32_t len, uint32_t off) {
  return transfer(f, user, len, off, false);
}

static int32_t raw_write(struct file *f, vaddr_t user, uint32_t len, uint32_t off) {
  return transfer(f, user, len, off, true);
}

static int raw_fsync(struct file *f) { return bcache_sync(f->priv); }

static int raw_stat(struct file *f, struct stat *st) {
  const struct blk_device *d = f->priv;
  *st = (struct stat){.st_mode = S_IFBLK | 0660, .st_ino = 0, .st_size = f->size,
                      .st_blocks = d->sectors > SIZE_MAX32 ? SIZE_MAX32 : (uint32_t)d->sectors};
  return 0;
}

static void raw_release(struct file *f) { (void)f; /* the disk outlives its files */ }

static const struct file_ops rawdisk_ops = {
    .read = raw_read, .write = raw_write, .fsync = raw_fsync, .stat = raw_stat,
    .release = raw_release};

int rawdisk_open(const char *name, uint32_t flags, struct file **out) {
  struct blk_device *d = blk_find(name);
  if (!d) {
    krecord("DISK error=missing dev=%pq op=open lba=0 count=0 status=0x0 err=0x0\n", name);
    return -ENXIO;
  }
  /* The swap disk holds other processes' pages; the file system's disk sits
   * under the page cache, which would not see a raw write. */
  if (d->index == swap_disk_index) return -EBUSY;
  if (d == fs_state.dev && (flags & O_ACCMODE) != O_RDONLY) return -EROFS;
  struct file *f = file_alloc(&rawdisk_ops, flags, disk_bytes(d), d);
  if (!f) return -ENOMEM;
  *out = f;
  return 0;
}
