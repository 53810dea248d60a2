/* The ustar archive on the file-system disk: parsing its headers at boot into
 * the file table, looking paths up, reading a file's pages (include/fs/fs.h
 * has the format and the rules). */
#include "fs/fs.h"
#include "fs/bcache.h"
#include "kernel/cmdline.h"
#include "kernel/errno.h"
#include "kernel/kprintf.h"
#include "lib/string.h"
#include "mm/vmm.h"

#define USTAR_BLOCK 512u

/* The fields of a ustar header this reader uses (POSIX.1-1988 layout). */
struct ustar_header {
  char name[100];
  char mode[8];
  char uid[8], gid[8];
  char size[12];
  char mtime[12];
  char chksum[8];
  char typeflag;
  char linkname[100];
  char magic[6];     /* "ustar\0" */
  char version[2];   /* "00" */
  char uname[32], gname[32];
  char devmajor[8], devminor[8];
  char prefix[155];
  char pad[12];
};
_Static_assert(sizeof(struct ustar_header) == USTAR_BLOCK, "a header is one block");

struct fs_state fs_state;
struct fs_file fs_files[FS_FILES_MAX];

/* An octal field: digits, optionally led by spaces and ended by NUL or
 * space, nothing after the end but NULs and spaces.  False for anything else
 * (base-256 sizes, garbage, an empty field, a value over 32 bits). */
static bool octal_field(const char *field, uint32_t width, uint32_t *out) {
  uint32_t i = 0, value = 0, digits = 0;
  while (i < width && field[i] == ' ') i++;
  for (; i < width && field[i] >= '0' && field[i] <= '7'; i++, digits++) {
    if (value > 0x1FFFFFFFu) return false; /* another digit would not fit */
    value = value * 8 + (uint32_t)(field[i] - '0');
  }
  for (; i < width; i++)
    if (field[i] != '\0' && field[i] != ' ') return false;
  *out = value;
  return digits > 0;
}

/* The header's checksum: every byte unsigned, the checksum field as spaces. */
static bool checksum_ok(const struct ustar_header *h) {
  const uint8_t *bytes = (const uint8_t *)h;
  uint32_t sum = 0, stored;
  for (uint32_t i = 0; i < USTAR_BLOCK; i++)
    sum += (i >= 148 && i < 156) ? ' ' : bytes[i];
  return octal_field(h->chksum, sizeof(h->chksum), &stored) && stored == sum;
}

static bool all_zero(const struct ustar_header *h) {
  const uint32_t *words = (const uint32_t *)h;
  for (uint32_t i = 0; i < USTAR_BLOCK / 4; i++)
    if (words[i]) return false;
  return true;
}

/* prefix "/" name, without a leading "./" or "/": the path's length, or -1
 * when it does not fit FS_PATH_MAX. */
static int join_path(const struct ustar_header *h, char out[FS_PATH_MAX]) {
  size_t plen = strnlen(h->prefix, sizeof(h->prefix)), nlen = strnlen(h->name, sizeof(h->name));
  if (plen + 1 + nlen >= FS_PATH_MAX) return -1;
  size_t at = 0;
  if (plen) {
    memcpy(out, h->prefix, plen);
    out[plen] = '/';
    at = plen + 1;
  }
  memcpy(out + at, h->name, nlen);
  out[at + nlen] = '\0';
  char *p = out;
  while (p[0] == '/' || (p[0] == '.' && p[1] == '/')) p += p[0] == '/' ? 1 : 2;
  size_t len = strlen(p);
  memmove(out, p, len + 1);
  return (int)len;
}

static int refuse(struct blk_device *dev, const char *kind, uint32_t offset, int err) {
  krecord("FS error=%s dev=%s offset=%u\n", kind, dev->name, offset);
  fs_state = (struct fs_state){0};
  return err;
}

/* The header at byte `offset` of dev, copied out of its buffer-cache block
 * (headers are 512-aligned, so one never spans two blocks). */
static int read_header(struct blk_device *dev, uint32_t offset, struct ustar_header *h) {
  int err = 0;
  struct buf *b = bcache_get(dev, offset / BCACHE_BLOCK_SIZE, &err);
  if (!b) return err ? err : -EIO;
  memcpy(h, b->data + offset % BCACHE_BLOCK_SIZE, sizeof(*h));
  bcache_put(b);
  return 0;
}

int fs_mount(struct blk_device *dev) {
  fs_state = (struct fs_state){0};
  /* Offsets are 32-bit: a larger disk's archive may use its first 4 GiB. */
  uint64_t disk_bytes64 = dev->sectors * BLK_SECTOR_SIZE;
  uint32_t disk_bytes = disk_bytes64 > 0xFFFFF000u ? 0xFFFFF000u : (uint32_t)disk_bytes64;
  uint32_t files = 0, bytes = 0, skipped = 0;
  struct ustar_header h;
  for (uint32_t offset = 0; disk_bytes - offset >= USTAR_BLOCK;) {
    if (read_header(dev, offset, &h) != 0) return refuse(dev, "io", offset, -EIO);
    if (all_zero(&h)) break; /* the end of the archive */
    if (!checksum_ok(&h)) return refuse(dev, "checksum", offset, -EINVAL);
    if (memcmp(h.magic, "ustar", 6) != 0) return refuse(dev, "magic", offset, -EINVAL);
    uint32_t size, mode;
    if (!octal_field(h.size, sizeof(h.size), &size)) return refuse(dev, "size", offset, -EINVAL);
    if (!octal_field(h.mode, sizeof(h.mode), &mode)) return refuse(dev, "mode", offset, -EINVAL);
    if (strnlen(h.name, sizeof(h.name)) == sizeof(h.name) ||
        strnlen(h.prefix, sizeof(h.prefix)) == sizeof(h.prefix))
      return refuse(dev, "name", offset, -EINVAL);
    uint32_t data = offset + USTAR_BLOCK;
    /* The data lies wholly on the disk (and its padding then too: the disk's
     * size and the data's start are whole blocks). */
    if (size > disk_bytes - data)
      return refuse(dev, "past-end", offset, -EINVAL);
    if (h.typeflag == '0' || h.typeflag == '\0') {
      if (files == FS_FILES_MAX) return refuse(dev, "too-many", offset, -EINVAL);
      struct fs_file *f = &fs_files[files];
      int len = join_path(&h, f->path);
      if (len < 0) return refuse(dev, "path-too-long", offset, -EINVAL);
      if (len == 0) return refuse(dev, "name", offset, -EINVAL);
      f->ino = ++files;
      f->mode = mode & 07777;
      f->size = size;
      f->data_offset = data;
      bytes += size;
    } else if (h.typeflag != '5') {
      skipped++; /* links, devices, fifos: not files here */
    }
    offset = data + ALIGN_UP(size, USTAR_BLOCK);
  }
  fs_state = (struct fs_state){.dev = dev, .files = files, .bytes = bytes, .skipped = skipped};
  return 0;
}

void fs_init(void) {
  static const char *const choices[] = {"hda", "hdb", "hdc", "hdd", "off"};
  uint32_t choice = cmdline_choice("fs", choices, ARRAY_SIZE(choices), 1);
  /* A disk that is not there: no file system (its DISK records say so). */
  struct blk_device *dev = choice < BLK_MAX_DEVICES ? blk_find(choices[choice]) : NULL;
  if (dev && fs_mount(dev) != 0) return; /* the FS error record said why */
  if (!dev) fs_state = (struct fs_state){0};
  krecord("FS dev=%s files=%u bytes=%u skipped=%u\n", dev ? dev->name : "none", fs_state.files,
          fs_state.bytes, fs_state.skipped);
}

const struct fs_file *fs_lookup(const char *path) {
  if (path[0] != '/') return NULL;
  while (path[0] == '/') path++;
  /* The last entry of a path wins, as when tar extracts the archive. */
  for (uint32_t i = fs_state.files; i-- > 0;)
    if (strcmp(fs_files[i].path, path) == 0) return &fs_files[i];
  return NULL;
}

int fs_read_page(const struct fs_file *f, uint32_t index, pfn_t pfn) {
  uint32_t start = index * PAGE_SIZE;
  uint32_t bytes = f->size - start < PAGE_SIZE ? f->size - start : PAGE_SIZE;
  uint32_t sectors = (bytes + BLK_SECTOR_SIZE - 1) / BLK_SECTOR_SIZE;
  uint8_t *k = kmap_pfn(pfn);
  int rc = sectors ? blk_read(fs_state.dev, (f->data_offset + start) / BLK_SECTOR_SIZE, sectors, k)
                   : 0;
  /* The tail past the end of the file reads as zeros, whatever the archive's
   * padding holds. */
  memset(k + (rc == 0 ? bytes : 0), 0, PAGE_SIZE - (rc == 0 ? bytes : 0));
  kunmap(k);
  return rc;
}
