/* Block devices: the one interface the buffer cache, the file system and swap
 * use to reach a disk, whatever the controller (dev/ata.c drives the PIIX IDE
 * that QEMU's pc machine has built in).
 *
 * Disks are named by their IDE position, as QEMU's -drive if=ide,index=N:
 *   index 0 hda (primary master)    index 1 hdb (primary slave)
 *   index 2 hdc (secondary master)  index 3 hdd (secondary slave)
 * Roles by convention (kernel command line: fs=<name|off>, swap=<name|off>):
 * hdb holds the ustar file system, hdc is the swap disk, hda and hdd are raw
 * disks a user program may open as /dev/hda, /dev/hdd (the swap disk cannot
 * be opened, the file system's only read-only: dev/rawdisk.h).
 *
 * Sectors are 512 bytes.  A transfer names whole sectors; the buffer is
 * kernel memory (physically contiguous within each 4 KiB page, as every
 * kernel buffer is).  Completion is interrupt driven; a request that does
 * not complete within BLK_TIMEOUT_TICKS (in TIMER_HZ units: 2 s, counted on
 * the CMOS clock's 8 Hz interrupt, see dev/ata.h) is abandoned and its IDE
 * channel reset.
 *
 * Every failure is one record and a negative errno, never a hang or a panic:
 *   DISK error=<missing|range|media|timeout|busy> dev=<name> op=<read|write|flush>
 *        lba=<n> count=<n> status=<hex> err=<hex>
 *   -ENXIO      no such disk
 *   -EINVAL     lba + count past the end, count 0
 *   -EIO        the device reported an error (a media error blkdebug injects)
 *   -ETIMEDOUT  no completion in time */
#pragma once

#include "types.h"

#define BLK_SECTOR_SIZE 512u
#define BLK_MAX_DEVICES 4
#define BLK_NAME_MAX 8
#define BLK_TIMEOUT_TICKS 200   /* 2 s at TIMER_HZ 100 (measured on the RTC) */

struct blk_stats {
  uint32_t reads, writes, flushes;      /* requests completed */
  uint32_t sectors_read, sectors_written;
  uint32_t errors;                      /* requests failed, all kinds */
};

struct blk_device {
  char name[BLK_NAME_MAX];              /* "hda".."hdd" */
  uint32_t index;                       /* IDE position 0..3 */
  uint32_t present;                     /* 1: a disk answered IDENTIFY */
  uint64_t sectors;                     /* capacity */
  char model[41];                       /* IDENTIFY's model string, trimmed */
  struct blk_stats stats;
};

extern struct blk_device blk_devices[BLK_MAX_DEVICES];

/* Probes the controller (after the PCI scan): one record per disk found
 *   DISK name=<name> sectors=<n> model=<text> dma=<on|off> */
void blk_init(void);
/* The disk called name ("hda"), or NULL when there is none. */
struct blk_device *blk_find(const char *name);
/* Synchronous transfers of count sectors at lba: 0 or a negative errno. */
int blk_read(struct blk_device *d, uint64_t lba, uint32_t count, void *buf);
int blk_write(struct blk_device *d, uint64_t lba, uint32_t count, const void *buf);
/* The device's write cache to the medium (ATA FLUSH CACHE). */
int blk_flush(struct blk_device *d);
