/* The block layer: names, range checks, statistics and the DISK records, in
 * front of the ATA driver.  Requests larger than one ATA command are split. */
#include "dev/blk.h"
#include "dev/ata.h"
#include "kernel/errno.h"
#include "kernel/kprintf.h"
#include "lib/string.h"

struct blk_device blk_devices[BLK_MAX_DEVICES] = {
    {.name = "hda", .index = 0}, {.name = "hdb", .index = 1},
    {.name = "hdc", .index = 2}, {.name = "hdd", .index = 3}};

static const char *const ops[] = {"read", "write", "flush"};
enum { OP_READ, OP_WRITE, OP_FLUSH };

/* v in decimal, into buf (21 bytes): kprintf has no 64-bit conversion, and
 * an LBA48 disk's sectors (or a wrong caller's lba) go past 32 bits. */
static const char *u64_decimal(uint64_t v, char buf[21]) {
  char *p = buf + 20;
  *p = '\0';
  do {
    *--p = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  return p;
}

static void report(const struct blk_device *d, const char *kind, int op, uint64_t lba,
                   uint32_t count, uint8_t status, uint8_t error) {
  char digits[21];
  krecord("DISK error=%s dev=%s op=%s lba=%s count=%u status=0x%x err=0x%x\n", kind,
          d ? d->name : "none", ops[op], u64_decimal(lba, digits), count, status, error);
}

static const char *error_kind(int rc) {
  switch (rc) {
  case -ETIMEDOUT: return "timeout";
  case -EBUSY: return "busy";
  default: return "media";
  }
}

void blk_init(void) {
  ata_init();
  for (uint32_t i = 0; i < BLK_MAX_DEVICES; i++) {
    struct blk_device *d = &blk_devices[i];
    if (d->present)
      krecord("DISK name=%s sectors=%u model=%pq dma=%s\n", d->name, (uint32_t)d->sectors,
              d->model, ata_dma ? "on" : "off");
  }
}

struct blk_device *blk_find(const char *name) {
  for (uint32_t i = 0; i < BLK_MAX_DEVICES; i++)
    if (blk_devices[i].present && strcmp(blk_devices[i].name, name) == 0) return &blk_devices[i];
  return NULL;
}

/* Checks a request before the device is touched: 0 or the errno (recorded). */
static int check(struct blk_device *d, int op, uint64_t lba, uint32_t count) {
  if (!d || !d->present) {
    report(d, "missing", op, lba, count, 0, 0);
    return -ENXIO;
  }
  if (op != OP_FLUSH && (count == 0 || lba >= d->sectors || count > d->sectors - lba)) {
    d->stats.errors++;
    report(d, "range", op, lba, count, 0, 0);
    return -EINVAL;
  }
  return 0;
}

static int transfer(struct blk_device *d, int op, uint64_t lba, uint32_t count, uint8_t *buf) {
  int rc = check(d, op, lba, count);
  if (rc) return rc;
  for (uint32_t done = 0; done < count;) {
    uint32_t n = count - done < ATA_MAX_SECTORS ? count - done : ATA_MAX_SECTORS;
    uint8_t status, error;
    rc = ata_transfer(d, op == OP_WRITE, lba + done, n, buf + done * BLK_SECTOR_SIZE, &status,
                      &error);
    if (rc) {
      d->stats.errors++;
      report(d, error_kind(rc), op, lba + done, n, status, error);
      return rc == -EBUSY ? -ETIMEDOUT : rc;
    }
    done += n;
  }
  if (op == OP_WRITE) {
    d->stats.writes++;
    d->stats.sectors_written += count;
  } else {
    d->stats.reads++;
    d->stats.sectors_read += count;
  }
  return 0;
}

int blk_read(struct blk_device *d, uint64_t lba, uint32_t count, void *buf) {
  return transfer(d, OP_READ, lba, count, buf);
}

int blk_write(struct blk_device *d, uint64_t lba, uint32_t count, const void *buf) {
  return transfer(d, OP_WRITE, lba, count, (uint8_t *)buf);
}

int blk_flush(struct blk_device *d) {
  int rc = check(d, OP_FLUSH, 0, 0);
  if (rc) return rc;
  uint8_t status, error;
  rc = ata_flush(d, &status, &error);
  if (rc) {
    d->stats.errors++;
    report(d, error_kind(rc), OP_FLUSH, 0, 0, status, error);
    return rc == -EBUSY ? -ETIMEDOUT : rc;
  }
  d->stats.flushes++;
  return 0;
}
