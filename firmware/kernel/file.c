/* Open files, the per-process descriptor table, and the system calls on
 * them (see kernel/file.h). */
#include "kernel/file.h"
#include "dev/rawdisk.h"
#include "fs/bcache.h"
#include "fs/fs.h"
#include "kernel/errno.h"
#include "kernel/proc.h"
#include "lib/string.h"
#include "mm/heap.h"
#include "mm/uvm.h"

#define FD_FIRST 3           /* 0, 1, 2: the console */
#define DEV_PREFIX "/dev/"

struct file *file_alloc(const struct file_ops *ops, uint32_t flags, uint32_t size, void *priv) {
  struct file *f = kcalloc(1, sizeof(*f));
  if (!f) return NULL;
  *f = (struct file){.ops = ops, .refs = 1, .flags = flags, .size = size, .priv = priv};
  return f;
}

void file_get(struct file *f) { f->refs++; }

void file_put(struct file *f) {
  if (--f->refs) return;
  f->ops->release(f);
  kfree(f);
}

int file_open(const char *path, uint32_t flags, struct file **out) {
  if ((flags & O_ACCMODE) == O_ACCMODE || flags & ~O_ACCMODE) return -EINVAL;
  if (strncmp(path, DEV_PREFIX, sizeof(DEV_PREFIX) - 1) == 0)
    return rawdisk_open(path + sizeof(DEV_PREFIX) - 1, flags, out);
  return fs_open(path, flags, out);
}

void files_inherit(struct process *child) {
  for (uint32_t fd = FD_FIRST; fd < FD_MAX; fd++)
    if (child->files[fd]) file_get(child->files[fd]);
}

void files_close_all(struct process *p) {
  for (uint32_t fd = FD_FIRST; fd < FD_MAX; fd++)
    if (p->files[fd]) {
      file_put(p->files[fd]);
      p->files[fd] = NULL;
    }
}

static struct file *lookup(uint32_t fd) {
  return fd >= FD_FIRST && fd < FD_MAX ? current->files[fd] : NULL;
}

static bool readable(const struct file *f) { return (f->flags & O_ACCMODE) != O_WRONLY; }
static bool writable(const struct file *f) { return (f->flags & O_ACCMODE) != O_RDONLY; }

/* A path from user space: its length, or -EFAULT / -ENAMETOOLONG. */
static int copy_path(char path[FILE_PATH_MAX], vaddr_t user) {
  int rc = strncpy_from_user(path, user, FILE_PATH_MAX);
  return rc == -EINVAL ? -ENAMETOOLONG : rc;
}

int32_t sys_open(vaddr_t user_path, uint32_t flags) {
  char path[FILE_PATH_MAX];
  int rc = copy_path(path, user_path);
  if (rc < 0) return rc;
  uint32_t fd = FD_FIRST;
  while (fd < FD_MAX && current->files[fd]) fd++;
  if (fd == FD_MAX) return -EMFILE;
  struct file *f;
  if ((rc = file_open(path, flags, &f)) != 0) return rc;
  current->files[fd] = f;
  return (int32_t)fd;
}

int32_t sys_close(uint32_t fd) {
  struct file *f = lookup(fd);
  if (!f) return -EBADF;
  current->files[fd] = NULL;
  file_put(f);
  return 0;
}

int32_t sys_pread(uint32_t fd, vaddr_t buf, uint32_t len, uint32_t off) {
  struct file *f = lookup(fd);
  if (!f || !readable(f)) return -EBADF;
  return f->ops->read(f, buf, len, off);
}

int32_t sys_pwrite(uint32_t fd, vaddr_t buf, uint32_t len, uint32_t off) {
  struct file *f = lookup(fd);
  if (!f || !writable(f) || !f->ops->write) return -EBADF;
  return f->ops->write(f, buf, len, off);
}

int32_t sys_read_fd(uint32_t fd, vaddr_t buf, uint32_t len) {
  struct file *f = lookup(fd);
  if (!f || !readable(f)) return -EBADF;
  int32_t n = f->ops->read(f, buf, len, f->offset);
  if (n > 0) f->offset += (uint32_t)n;
  return n;
}

int32_t sys_write_fd(uint32_t fd, vaddr_t buf, uint32_t len) {
  struct file *f = lookup(fd);
  if (!f || !writable(f) || !f->ops->write) return -EBADF;
  int32_t n = f->ops->write(f, buf, len, f->offset);
  if (n > 0) f->offset += (uint32_t)n;
  return n;
}

int32_t sys_fsync(uint32_t fd) {
  struct file *f = lookup(fd);
  if (!f) return -EBADF;
  return f->ops->fsync ? f->ops->fsync(f) : 0;
}

int32_t sys_sync(void) { return bcache_sync(NULL); }

int32_t sys_fstat(uint32_t fd, vaddr_t user_st) {
  struct file *f = lookup(fd);
  if (!f) return -EBADF;
  struct stat st;
  int rc = f->ops->stat(f, &st);
  return rc ? rc : copy_to_user(user_st, &st, sizeof(st));
}

int32_t sys_stat(vaddr_t user_path, vaddr_t user_st) {
  char path[FILE_PATH_MAX];
  int rc = copy_path(path, user_path);
  if (rc < 0) return rc;
  struct file *f;
  if ((rc = file_open(path, O_RDONLY, &f)) != 0) return rc;
  struct stat st;
  rc = f->ops->stat(f, &st);
  file_put(f);
  return rc ? rc : copy_to_user(user_st, &st, sizeof(st));
}

int32_t sys_lseek(uint32_t fd, int32_t off, uint32_t whence) {
  struct file *f = lookup(fd);
  if (!f) return -EBADF;
  int64_t base;
  switch (whence) {
  case SEEK_SET: base = 0; break;
  case SEEK_CUR: base = f->offset; break;
  case SEEK_END: base = f->size; break;
  default: return -EINVAL;
  }
  int64_t pos = base + off;
  if (pos < 0 || pos > 0x7FFFFFFF) return -EINVAL; /* the return value must say it */
  f->offset = (uint32_t)pos;
  return (int32_t)pos;
}
