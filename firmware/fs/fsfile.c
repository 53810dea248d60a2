/* Files of the file system as open descriptors (kernel/file.h's struct file)
 * and as programs to run: open, read through the page cache, stat, and a
 * program's image for exec/spawn. */
#include "fs/fs.h"
#include "fs/pagecache.h"
#include "kernel/errno.h"
#include "kernel/fcntl.h"
#include "kernel/file.h"
#include "kernel/modules.h"
#include "lib/string.h"
#include "mm/heap.h"
#include "mm/vmm.h"

static int32_t fs_file_read(struct file *f, vaddr_t buf, uint32_t len, uint32_t off) {
  return pagecache_read(f->priv, buf, len, off);
}

static int fs_file_fsync(struct file *f) {
  (void)f;
  return 0; /* nothing is ever dirty */
}

static void fill_stat(const struct fs_file *ff, struct stat *st) {
  st->st_mode = S_IFREG | ff->mode;
  st->st_ino = ff->ino;
  st->st_size = ff->size;
  st->st_blocks = (ff->size + BLK_SECTOR_SIZE - 1) / BLK_SECTOR_SIZE;
}

static int fs_file_stat(struct file *f, struct stat *st) {
  fill_stat(f->priv, st);
  return 0;
}

static void fs_file_release(struct file *f) {
  (void)f; /* file_put frees f; the table entry lives as long as the file system */
}

static const struct file_ops fs_file_ops = {
    .read = fs_file_read,
    /* no write: every descriptor of the file system is O_RDONLY (fs_open),
     * and kernel/file.c refuses a write through one (EBADF) */
    .fsync = fs_file_fsync,
    .stat = fs_file_stat,
    .release = fs_file_release,
};

/* The file at path, or NULL with *err -ENOENT.  Paths come from
 * kernel/file.c (FILE_PATH_MAX with the NUL: too long is its -ENAMETOOLONG)
 * and from spawn's program names, shorter still. */
static const struct fs_file *find(const char *path, int *err) {
  const struct fs_file *ff = fs_lookup(path);
  if (!ff) *err = -ENOENT;
  return ff;
}

int fs_open(const char *path, uint32_t flags, struct file **out) {
  int err;
  const struct fs_file *ff = find(path, &err);
  if (!ff) return err;
  if ((flags & O_ACCMODE) != O_RDONLY) return -EROFS;
  struct file *f = file_alloc(&fs_file_ops, flags, ff->size, (void *)ff);
  if (!f) return -ENOMEM;
  *out = f;
  return 0;
}

const struct fs_file *fs_file_of(const struct file *f) {
  return f && f->ops == &fs_file_ops ? f->priv : NULL;
}

int fs_program(const char *path, struct module *out) {
  int err;
  const struct fs_file *ff = find(path, &err);
  if (!ff) return err;
  if (ff->size == 0 || ff->size > FS_PROGRAM_MAX) return -EINVAL;
  uint8_t *image = kmalloc(ff->size);
  if (!image) return -ENOMEM;
  for (uint32_t off = 0; off < ff->size; off += PAGE_SIZE) {
    pfn_t pfn = pagecache_get(ff, off / PAGE_SIZE, &err);
    if (!pfn) {
      kfree(image);
      return err;
    }
    const uint8_t *k = kmap_pfn(pfn);
    memcpy(image + off, k, MIN(PAGE_SIZE, ff->size - off));
    kunmap((void *)k);
  }
  strlcpy(out->name, path, sizeof(out->name));
  out->image = image;
  out->size = ff->size;
  out->args = "";
  return 0;
}

void fs_program_free(struct module *m) { kfree((void *)m->image); }
