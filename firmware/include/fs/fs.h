/* The read-only file system: a ustar archive on a whole disk (fs/ustar.c).
 *
 * The disk (`fs=<hdX|off>` on the command line, default hdb) holds a POSIX
 * ustar archive from its first byte: 512-byte headers, each followed by the
 * file's data padded to 512 bytes, ended by a zero header (the archive's
 * two zero blocks, or the rest of a zeroed disk).  At boot fs_init reads
 * every header through the buffer cache and keeps a table of the regular
 * files: path, size, mode and where the data starts on the disk.  Directory
 * entries are accepted and implied by paths anyway; other kinds (links,
 * devices, fifos) are skipped and counted.  The archive is never trusted:
 * a header whose checksum is wrong, whose magic is not "ustar", whose size
 * or mode field is not octal, whose name or prefix has no NUL, whose path
 * does not fit FS_PATH_MAX, or whose data runs past the disk's end refuses
 * the whole archive (no files at all) with one record
 *   FS error=<kind> dev=<name> offset=<byte offset of the header>
 * kinds: checksum magic size mode name path-too-long past-end too-many io.
 * A good archive gives one record
 *   FS dev=<name> files=<n> bytes=<sum of sizes> skipped=<n>
 * and no disk, or fs=off, one record `FS dev=none files=0 bytes=0 skipped=0`.
 *
 * Paths: stored in the archive without a leading "/" ("bin/hello", prefix
 * and name joined by "/"); open and stat take them absolute ("/bin/hello").
 * A leading "./" in the archive is dropped.  A file's st_ino is its index in
 * the table plus one. */
#pragma once

#include "dev/blk.h"
#include "types.h"

#define FS_PATH_MAX 128     /* a path with its NUL, as stored in the table */
#define FS_FILES_MAX 128    /* regular files an archive may hold */

struct fs_file {
  char path[FS_PATH_MAX];   /* without the leading '/' */
  uint32_t ino;             /* index + 1 */
  uint32_t mode;            /* the archive's permission bits */
  uint32_t size;            /* bytes */
  uint32_t data_offset;     /* byte offset of the data on the disk (512-aligned) */
};

struct fs_state {
  struct blk_device *dev;   /* NULL: no file system */
  uint32_t files;           /* entries of fs_files in use */
  uint32_t bytes;
  uint32_t skipped;         /* entries that were neither files nor directories */
};
extern struct fs_state fs_state;
extern struct fs_file fs_files[FS_FILES_MAX];

struct file;

/* Mounts the archive on the disk `fs=` names (after blk_init and bcache_init). */
void fs_init(void);
/* Reads the archive on dev: 0, or a negative errno with the FS error record
 * (-EINVAL for a hostile header, -EIO when a block could not be read).  On
 * failure the table is empty.  Once, from fs_init: the page cache keys pages
 * by the table's inos, so a second mount would need it emptied first. */
int fs_mount(struct blk_device *dev);
/* The file at absolute path, or NULL. */
const struct fs_file *fs_lookup(const char *path);
/* open(2) of a file: O_RDONLY only (any write access is -EROFS); -ENOENT
 * when there is no such file (or no file system).  A path too long for
 * FILE_PATH_MAX never gets here: kernel/file.c's copy refuses it. */
int fs_open(const char *path, uint32_t flags, struct file **out);
/* Reads page `index` of f from the disk into the frame pfn (the part past the
 * end of the file is zeroed): 0 or the disk's negative errno. */
int fs_read_page(const struct fs_file *f, uint32_t index, pfn_t pfn);
/* The file an open descriptor reads, or NULL when it is not a file of the
 * file system (a raw disk, the console). */
const struct fs_file *fs_file_of(const struct file *f);

/* A program stored in the file system, for spawn and exec (kernel/proc.c:
 * a name starting with '/'): *out gets the whole file copied into the kernel
 * heap (image, size; name = the path, args ""), to be given back with
 * fs_program_free once the address space is built.  0, or -ENOENT,
 * -EINVAL (empty, or larger than FS_PROGRAM_MAX), -ENOMEM, -EIO. */
#define FS_PROGRAM_MAX (1u << 20)
struct module;
int fs_program(const char *path, struct module *out);
void fs_program_free(struct module *m);
