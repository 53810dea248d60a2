/* Open files and the per-process descriptor table (kernel/file.c).
 *
 * A struct file is what a descriptor names: its operations, where the next
 * read/write goes (offset), its size and its owner's private data.  It is
 * shared, not copied: fork takes one more reference on each of the parent's
 * files, close and exit drop one, and the last drop calls release.  exec
 * keeps the table.  Descriptors 0, 1 and 2 stay the console (kernel/syscall.c);
 * files get 3..FD_MAX-1.
 *
 * The operations receive USER addresses and move bytes with copy_to_user /
 * copy_from_user themselves (a page-cache read copies straight from the
 * cached frame).  read and write return the bytes moved (0 at the end of the
 * file) or a negative errno. */
#pragma once

#include "kernel/fcntl.h"
#include "types.h"

#define FILE_PATH_MAX 128    /* bytes of a path, its NUL included */

struct file;
struct stat;

struct file_ops {
  int32_t (*read)(struct file *f, vaddr_t user_buf, uint32_t len, uint32_t off);
  int32_t (*write)(struct file *f, vaddr_t user_buf, uint32_t len, uint32_t off);
  int (*fsync)(struct file *f);
  int (*stat)(struct file *f, struct stat *st);
  void (*release)(struct file *f);
};

struct file {
  const struct file_ops *ops;
  uint32_t refs;
  uint32_t flags;            /* O_* from open */
  uint32_t offset;           /* read/write (not pread/pwrite) use and advance it */
  uint32_t size;             /* bytes */
  void *priv;
};

struct process;

/* A new file with one reference, or NULL (no memory). */
struct file *file_alloc(const struct file_ops *ops, uint32_t flags, uint32_t size, void *priv);
void file_get(struct file *f);
void file_put(struct file *f);
/* Opens path: "/dev/hdX" is a raw disk (dev/rawdisk.h), anything else a file
 * of the file system (fs_open).  0 with *out holding one reference, or
 * -errno. */
int file_open(const char *path, uint32_t flags, struct file **out);

/* The descriptor table of a process (struct process.files). */
void files_inherit(struct process *child);  /* fork: one more reference each */
void files_close_all(struct process *p);    /* exit */

/* The system calls on descriptors and paths (numbers 22..30, and read/write
 * for fd >= 3): each returns what the call returns to user space. */
int32_t sys_open(vaddr_t path, uint32_t flags);
int32_t sys_close(uint32_t fd);
int32_t sys_read_fd(uint32_t fd, vaddr_t buf, uint32_t len);
int32_t sys_write_fd(uint32_t fd, vaddr_t buf, uint32_t len);
int32_t sys_pread(uint32_t fd, vaddr_t buf, uint32_t len, uint32_t off);
int32_t sys_pwrite(uint32_t fd, vaddr_t buf, uint32_t len, uint32_t off);
int32_t sys_fsync(uint32_t fd);
int32_t sys_sync(void);
int32_t sys_stat(vaddr_t path, vaddr_t st);
int32_t sys_fstat(uint32_t fd, vaddr_t st);
int32_t sys_lseek(uint32_t fd, int32_t off, uint32_t whence);
