/* ATA on the PIIX IDE controller: IDENTIFY at boot, then LBA28/LBA48 reads,
 * writes and cache flushes, by bus-master DMA or PIO, completed by the
 * channel's interrupt (see dev/ata.h for the timeout clock). */
#include "dev/ata.h"
#include "arch/i386/cpu.h"
#include "arch/i386/io.h"
#include "arch/i386/pic.h"
#include "dev/pci.h"
#include "dev/rtc.h"
#include "kernel/cmdline.h"
#include "kernel/errno.h"
#include "kernel/kprintf.h"
#include "kernel/lockdep.h"
#include "kernel/timer.h"
#include "lib/string.h"
#include "memlayout.h"
#include "mm/vmm.h"

/* Task-file registers, from the channel's command block. */
#define REG_DATA 0
#define REG_ERROR 1
#define REG_COUNT 2
#define REG_LBA0 3
#define REG_LBA1 4
#define REG_LBA2 5
#define REG_DRIVE 6
#define REG_STATUS 7   /* reading it acknowledges the device's interrupt */
#define REG_COMMAND 7

#define ST_ERR 0x01
#define ST_DRQ 0x08
#define ST_DF 0x20
#define ST_BSY 0x80

#define CMD_READ_PIO 0x20
#define CMD_READ_PIO_EXT 0x24
#define CMD_READ_DMA_EXT 0x25
#define CMD_WRITE_PIO 0x30
#define CMD_WRITE_PIO_EXT 0x34
#define CMD_WRITE_DMA_EXT 0x35
#define CMD_READ_DMA 0xC8
#define CMD_WRITE_DMA 0xCA
#define CMD_FLUSH 0xE7
#define CMD_FLUSH_EXT 0xEA
#define CMD_IDENTIFY 0xEC

#define DRIVE_LBA 0xE0   /* LBA addressing, the obsolete bits 7 and 5 set */
#define LBA28_LIMIT (1u << 28)

/* Bus-master registers, per channel (secondary at +8). */
#define BM_COMMAND 0
#define BM_STATUS 2
#define BM_PRDT 4
#define BM_START 0x01
#define BM_TO_MEMORY 0x08   /* the device writes memory: a read */
#define BM_ST_ERROR 0x02
#define BM_ST_IRQ 0x04
#define BAR4 0x20
#define BAR4_DEFAULT 0xC000 /* our choice when the firmware assigned none */
#define PRD_END 0x8000

#define PIC_READ_ISR 0x0B

#define CTRL_SRST 0x04   /* device control register: software reset of both drives */

/* Polls for what the device does synchronously (DRQ before a PIO write, a
 * drive ready for a command): each poll is a port read, a VM exit. */
#define POLL_LIMIT 1000000u
#define TIMEOUT_RTC_TICKS (BLK_TIMEOUT_TICKS * RTC_HZ / TIMER_HZ)

struct prd {
  uint32_t addr;
  uint16_t bytes;    /* 0: 64 KiB */
  uint16_t flags;
} __attribute__((packed));

struct channel {
  uint16_t cmd, ctrl, bm;      /* bm 0: no bus mastering */
  uint8_t irq;
  volatile uint32_t irq_seen;  /* set by the interrupt handler */
  volatile uint8_t irq_status; /* the status it read */
  struct prd *prd;
};

/* 512 bytes each, aligned: a table may not cross a 64 KiB boundary. */
static struct prd prd_tables[2][ATA_PRD_ENTRIES] __attribute__((aligned(1024)));
static struct channel channels[2] = {
    {.cmd = 0x1F0, .ctrl = 0x3F6, .irq = 14, .prd = prd_tables[0]},
    {.cmd = 0x170, .ctrl = 0x376, .irq = 15, .prd = prd_tables[1]},
};
static bool lba48[BLK_MAX_DEVICES];

struct ata_stats ata_stats;
uint32_t ata_dma;

static struct channel *channel_of(const struct blk_device *d) { return &channels[d->index / 2]; }
static uint8_t alt_status(const struct channel *c) { return inb(c->ctrl); }
static void delay_400ns(const struct channel *c) {
  for (int i = 0; i < 4; i++) alt_status(c);
}

/* Polls until BSY is clear (and, with want, until one of want's bits or ERR
 * is set): the status, or -1 when it never happened. */
static int poll_status(const struct channel *c, uint8_t want) {
  for (uint32_t i = 0; i < POLL_LIMIT; i++) {
    uint8_t st = alt_status(c);
    if (st & ST_BSY) continue;
    if (!want || st & (want | ST_ERR)) return st;
  }
  return -1;
}

/* Whether the command the channel waits for has ended: its interrupt came
 * and, for DMA, the bus master says the transfer raised it (the device
 * shows no BSY during a DMA transfer); for PIO, the device is not busy. */
static bool done(const struct channel *c, bool dma) {
  if (!c->irq_seen) return false;
  return dma ? inb(c->bm + BM_STATUS) & BM_ST_IRQ : !(alt_status(c) & ST_BSY);
}

/* Sleeps until the command has ended (done), or TIMEOUT_RTC_TICKS of the
 * clock have passed.  Only this channel's line and the clock's are unmasked
 * meanwhile. */
static int wait_irq(struct channel *c, bool dma) {
  uint8_t mask1 = inb(PIC1_DATA), mask2 = inb(PIC2_DATA);
  outb(PIC1_DATA, mask1 & ~(1u << IRQ_CASCADE));
  outb(PIC2_DATA, mask2 & ~(1u << (IRQ_RTC - 8) | 1u << (c->irq - 8)));
  rtc_rearm();
  uint32_t start = rtc_ticks;
  int rc = 0;
  while (!done(c, dma)) {
    if (rtc_ticks - start > TIMEOUT_RTC_TICKS) {
      ata_stats.timeouts++;
      rc = -ETIMEDOUT;
      break;
    }
    lockdep_assert_none_held("wait_irq");
    sti();
    halt(); /* sti's one-instruction shadow: an interrupt already pending wakes this hlt */
    cli();
  }
  outb(PIC2_DATA, mask2);
  outb(PIC1_DATA, mask1);
  return rc;
}

void ata_irq(uint32_t line) {
  if (line == 15) { /* a spurious IRQ 15 is not in the slave's in-service register */
    outb(PIC2_CMD, PIC_READ_ISR);
    if (!(inb(PIC2_CMD) & 0x80)) {
      pic_eoi(IRQ_CASCADE); /* the master did take the cascade's interrupt */
      return;
    }
  }
  struct channel *c = &channels[line == 14 ? 0 : 1];
  c->irq_status = inb(c->cmd + REG_STATUS);
  c->irq_seen = 1;
  ata_stats.irqs++;
  pic_eoi((uint8_t)line);
}

/* Selects the drive and loads the task file for count sectors at lba. */
static int setup(const struct blk_device *d, uint64_t lba, uint32_t count) {
  struct channel *c = channel_of(d);
  uint8_t slave = (d->index & 1) << 4;
  if (poll_status(c, 0) < 0) return -EBUSY;
  if (lba48[d->index] && lba + count > LBA28_LIMIT) {
    outb(c->cmd + REG_DRIVE, DRIVE_LBA | slave);
    delay_400ns(c);
    outb(c->cmd + REG_COUNT, (count >> 8) & 0xFF); /* high bytes first */
    outb(c->cmd + REG_LBA0, (lba >> 24) & 0xFF);
    outb(c->cmd + REG_LBA1, (lba >> 32) & 0xFF);
    outb(c->cmd + REG_LBA2, (lba >> 40) & 0xFF);
  } else {
    outb(c->cmd + REG_DRIVE, DRIVE_LBA | slave | ((lba >> 24) & 0x0F));
    delay_400ns(c);
  }
  outb(c->cmd + REG_COUNT, count & 0xFF); /* 256 is 0 */
  outb(c->cmd + REG_LBA0, lba & 0xFF);
  outb(c->cmd + REG_LBA1, (lba >> 8) & 0xFF);
  outb(c->cmd + REG_LBA2, (lba >> 16) & 0xFF);
  if (poll_status(c, 0) < 0) return -EBUSY;
  return 0;
}

static void issue(struct channel *c, uint8_t command) {
  c->irq_seen = 0;
  outb(c->cmd + REG_COMMAND, command);
}

/* The end of a command: its status and error registers, -EIO on an error. */
static int finish(struct channel *c, uint8_t *status, uint8_t *error) {
  uint8_t st = alt_status(c);
  *status = st;
  *error = st & (ST_ERR | ST_DF) ? inb(c->cmd + REG_ERROR) : 0;
  return st & (ST_ERR | ST_DF) ? -EIO : 0;
}

static int pio_transfer(struct blk_device *d, bool write, uint64_t lba, uint32_t count,
                        uint8_t *buf, uint8_t *status, uint8_t *error) {
  struct channel *c = channel_of(d);
  bool ext = lba48[d->index] && lba + count > LBA28_LIMIT;
  int rc = setup(d, lba, count);
  if (rc) return rc;
  ata_stats.pio_commands++;
  issue(c, write ? (ext ? CMD_WRITE_PIO_EXT : CMD_WRITE_PIO) : (ext ? CMD_READ_PIO_EXT
                                                                    : CMD_READ_PIO));
  for (uint32_t i = 0; i < count; i++, buf += BLK_SECTOR_SIZE) {
    if (write) {
      /* The device asks for each sector with DRQ (no interrupt before the first). */
      if (poll_status(c, ST_DRQ) < 0) return -ETIMEDOUT;
      if ((rc = finish(c, status, error))) return rc;
      c->irq_seen = 0;
      outsw(c->cmd + REG_DATA, buf, BLK_SECTOR_SIZE / 2);
      if ((rc = wait_irq(c, false)) || (rc = finish(c, status, error))) return rc;
    } else {
      if ((rc = wait_irq(c, false)) || (rc = finish(c, status, error))) return rc;
      c->irq_seen = 0; /* before the data: the last word starts the next sector */
      insw(c->cmd + REG_DATA, buf, BLK_SECTOR_SIZE / 2);
    }
  }
  return 0;
}

/* The physical address of a kernel buffer byte, or false (above 4 GiB, unmapped). */
static bool buffer_phys(const uint8_t *va, paddr_t *pa) {
  vaddr_t v = (vaddr_t)va;
  if (v >= KERNEL_BASE && v - KERNEL_BASE < DIRECT_MAP_LIMIT) {
    *pa = V2P(va);
    return true;
  }
  uint32_t flags;
  if (vmm_lookup(&kernel_page_directory, v & ~(PAGE_SIZE - 1), pa, &flags)) return false;
  *pa |= v & (PAGE_SIZE - 1);
  return true;
}

/* One PRD entry per piece of the buffer within a page: false when some
 * page cannot be reached by DMA. */
static bool build_prd(struct channel *c, uint8_t *buf, uint32_t bytes) {
  uint32_t n = 0;
  while (bytes) {
    uint32_t piece = PAGE_SIZE - ((vaddr_t)buf & (PAGE_SIZE - 1));
    if (piece > bytes) piece = bytes;
    paddr_t pa;
    if (n == ATA_PRD_ENTRIES || !buffer_phys(buf, &pa)) return false;
    c->prd[n++] = (struct prd){.addr = pa, .bytes = (uint16_t)piece, .flags = 0};
    buf += piece;
    bytes -= piece;
  }
  c->prd[n - 1].flags = PRD_END;
  return true;
}

/* The PRD table is built (build_prd). */
static int dma_transfer(struct blk_device *d, bool write, uint64_t lba, uint32_t count,
                        uint8_t *status, uint8_t *error) {
  struct channel *c = channel_of(d);
  bool ext = lba48[d->index] && lba + count > LBA28_LIMIT;
  uint8_t direction = write ? 0 : BM_TO_MEMORY;
  int rc = setup(d, lba, count);
  if (rc) return rc;
  ata_stats.dma_commands++;
  outl(c->bm + BM_PRDT, V2P(c->prd));
  outb(c->bm + BM_COMMAND, direction);
  outb(c->bm + BM_STATUS, BM_ST_ERROR | BM_ST_IRQ); /* write 1 to clear */
  issue(c, write ? (ext ? CMD_WRITE_DMA_EXT : CMD_WRITE_DMA) : (ext ? CMD_READ_DMA_EXT
                                                                    : CMD_READ_DMA));
  outb(c->bm + BM_COMMAND, direction | BM_START);
  rc = wait_irq(c, true);
  /* Stop the engine, whatever happened.  After a timeout QEMU finishes the
   * transfer before it lets this write return (it cancels DMA synchronously). */
  outb(c->bm + BM_COMMAND, direction);
  uint8_t bm_status = inb(c->bm + BM_STATUS);
  outb(c->bm + BM_STATUS, BM_ST_ERROR | BM_ST_IRQ);
  if (rc) return rc;
  rc = finish(c, status, error);
  if (!rc && bm_status & BM_ST_ERROR) rc = -EIO;
  return rc;
}

/* After a command that did not end (a timeout, a drive that stayed busy):
 * SRST resets both drives of the channel, which abandons the command (QEMU
 * cancels its request), so the next request does not find the drive busy
 * or still holding data for the old one (a drive with DRQ set ignores the
 * drive select, so the other drive's request would go to this one).  SRST
 * is held 5 us at least, then the drives take up to 2 ms. */
static void reset_channel(struct channel *c) {
  ata_stats.resets++;
  outb(c->ctrl, CTRL_SRST);
  for (int i = 0; i < 16; i++) alt_status(c); /* 16 x 400 ns-ish reads: > 5 us */
  outb(c->ctrl, 0);
  delay_400ns(c);
  poll_status(c, 0);
  inb(c->cmd + REG_STATUS); /* acknowledge whatever the abandoned command raised */
  c->irq_seen = 0;
}

static int recover(struct channel *c, int rc) {
  if (rc == -ETIMEDOUT || rc == -EBUSY) reset_channel(c);
  return rc;
}

int ata_transfer(struct blk_device *d, bool write, uint64_t lba, uint32_t count, void *buf,
                 uint8_t *status, uint8_t *error) {
  struct channel *c = channel_of(d);
  *status = *error = 0;
  if (ata_dma && c->bm && build_prd(c, buf, count * BLK_SECTOR_SIZE))
    return recover(c, dma_transfer(d, write, lba, count, status, error));
  return recover(c, pio_transfer(d, write, lba, count, buf, status, error));
}

int ata_flush(struct blk_device *d, uint8_t *status, uint8_t *error) {
  struct channel *c = channel_of(d);
  *status = *error = 0;
  int rc = setup(d, 0, 0);
  if (rc) return recover(c, rc);
  issue(c, lba48[d->index] ? CMD_FLUSH_EXT : CMD_FLUSH);
  if ((rc = wait_irq(c, false))) return recover(c, rc);
  return finish(c, status, error);
}

/* IDENTIFY DEVICE, polled (the line is masked at boot): true when an ATA
 * disk answered, with its capacity and model in d. */
static bool identify(struct blk_device *d) {
  struct channel *c = channel_of(d);
  uint16_t id[256];
  outb(c->cmd + REG_DRIVE, DRIVE_LBA | (d->index & 1) << 4);
  delay_400ns(c);
  outb(c->cmd + REG_COUNT, 0);
  outb(c->cmd + REG_LBA0, 0);
  outb(c->cmd + REG_LBA1, 0);
  outb(c->cmd + REG_LBA2, 0);
  outb(c->cmd + REG_COMMAND, CMD_IDENTIFY);
  uint8_t st = inb(c->cmd + REG_STATUS);
  if (st == 0 || st == 0xFF) return false; /* nothing there, or no channel at all */
  int polled = poll_status(c, ST_DRQ);
  if (polled < 0 || polled & ST_ERR) return false; /* an ATAPI device aborts IDENTIFY */
  insw(c->cmd + REG_DATA, id, 256);
  inb(c->cmd + REG_STATUS);
  lba48[d->index] = (id[83] >> 10) & 1;
  d->sectors = lba48[d->index] ? (uint64_t)id[100] | (uint64_t)id[101] << 16 |
                                     (uint64_t)id[102] << 32 | (uint64_t)id[103] << 48
                               : (uint32_t)id[60] | (uint32_t)id[61] << 16;
  for (int i = 0; i < 20; i++) { /* words 27-46, each two characters high byte first */
    d->model[2 * i] = (char)(id[27 + i] >> 8);
    d->model[2 * i + 1] = (char)(id[27 + i] & 0xFF);
  }
  d->model[40] = '\0';
  for (int i = 39; i >= 0 && d->model[i] == ' '; i--) d->model[i] = '\0';
  return d->sectors != 0;
}

/* IDENTIFY raised IRQ 14/15 while they were masked; the PICs latched the
 * edges.  Take them now (the handler sees no request), so that a later wait
 * is woken by its own command's interrupt only. */
static void absorb_stale_irqs(void) {
  uint8_t mask1 = inb(PIC1_DATA), mask2 = inb(PIC2_DATA);
  outb(PIC1_DATA, mask1 & ~(1u << IRQ_CASCADE));
  outb(PIC2_DATA, mask2 & ~(1u << (channels[0].irq - 8) | 1u << (channels[1].irq - 8)));
  lockdep_assert_none_held("absorb_stale_irqs");
  sti();
  __asm__ volatile("nop");
  cli();
  outb(PIC2_DATA, mask2);
  outb(PIC1_DATA, mask1);
  channels[0].irq_seen = channels[1].irq_seen = 0;
  ata_stats.irqs = 0;
}

/* The bus-master base of the IDE function, assigned and enabled if need be. */
static uint16_t bus_master_base(void) {
  const struct pci_function *ide = pci_find_class(0x01, 0x01);
  if (!ide) return 0;
  uint32_t bar = pci_read32(ide, BAR4);
  if (!(bar & 1)) return 0; /* not an I/O BAR: not the PIIX we know */
  if ((bar & ~3u) == 0) {
    pci_write32(ide, BAR4, BAR4_DEFAULT);
    bar = pci_read32(ide, BAR4);
  }
  pci_write16(ide, PCI_COMMAND,
              pci_read16(ide, PCI_COMMAND) | PCI_COMMAND_IO | PCI_COMMAND_MASTER);
  return bar & ~3u & 0xFFFF;
}

void ata_init(void) {
  uint16_t bm = bus_master_base();
  channels[0].bm = bm;
  channels[1].bm = bm ? bm + 8 : 0;
  ata_dma = bm && cmdline_bool("ata_dma", true);
  rtc_init(); /* the timeout's clock, masked at the PIC except while a request waits */
  for (uint32_t i = 0; i < BLK_MAX_DEVICES; i++) {
    struct blk_device *d = &blk_devices[i];
    d->present = identify(d);
  }
  absorb_stale_irqs();
}
