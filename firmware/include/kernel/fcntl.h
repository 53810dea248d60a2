/* Numbers for open/stat and file-backed mmap, shared with the user programs'
 * libc (firmware/user/), so it holds numbers and plain structs only.  Values
 * follow Linux where Linux has one. */
#pragma once

#define O_RDONLY 0x0
#define O_WRONLY 0x1
#define O_RDWR 0x2
#define O_ACCMODE 0x3

#define FD_MAX 16          /* descriptors per process; 0, 1, 2 are the console */

/* Paths: "/dev/hda".."/dev/hdd" are raw disks (read/write at any offset, in
 * bytes; fsync writes them back); any other absolute path names a file of the
 * read-only ustar file system ("/bin/hello", as stored in the archive). */
#define S_IFREG 0x8000     /* a regular file of the file system */
#define S_IFBLK 0x6000     /* a raw disk */

struct stat {
  unsigned int st_mode;    /* S_IF* | the archive's permission bits */
  unsigned int st_ino;     /* the file's index in the archive (1-based); 0 for a disk */
  unsigned int st_size;    /* bytes (a disk: its capacity, saturated at 4 GiB - 1) */
  unsigned int st_blocks;  /* 512-byte sectors */
};

/* lseek whence */
#define SEEK_SET 0
#define SEEK_CUR 1
#define SEEK_END 2
