/* Raw disks as files: "/dev/hda".."/dev/hdd" (dev/rawdisk.c).  Reads and
 * writes go through the buffer cache at any byte offset and length (a
 * partial block is read, changed and marked dirty); fsync writes the disk's
 * dirty buffers back and flushes its write cache.  A read at or past the end
 * returns 0 bytes; a write there -ENOSPC; a write through an O_RDONLY
 * descriptor -EBADF (kernel/file.c checks the access mode).  A disk's size
 * is rounded down to whole 4 KiB blocks.  A write whose user buffer faults
 * part-way returns the bytes moved before the faulting block (or -EFAULT);
 * what the faulting copy put into a block read from the disk stays, dirty. */
#pragma once

#include "types.h"

struct file;

/* name is the path's last part ("hda"): 0 and *out, or -ENXIO (no such disk;
 * one DISK error=missing record), -EBUSY (the swap disk, in any mode),
 * -EROFS (the mounted file system's disk, opened for writing) or -ENOMEM. */
int rawdisk_open(const char *name, uint32_t flags, struct file **out);
