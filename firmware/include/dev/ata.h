/* ATA disks on the PIIX IDE controller (dev/ata.c), the driver behind
 * dev/blk.h.  Four positions on two channels at the legacy ports
 * (primary 0x1F0/0x3F6 IRQ 14, secondary 0x170/0x376 IRQ 15); transfers by
 * bus-master DMA when the controller has a bus-master BAR (BAR4 of the IDE
 * function, assigned here when the firmware left it 0), else by PIO.
 *
 * Completion is the device's interrupt: the waiter does sti; hlt; cli until
 * the interrupt handler has seen the request end.  The kernel runs with
 * interrupts off and the PIT ticks only when asked to, so the timeout is
 * measured with the CMOS real-time clock's periodic interrupt (dev/rtc.h),
 * which runs off the host's clock: it keeps running with or without -icount
 * and whatever the PIT does. */
#pragma once

#include "dev/blk.h"
#include "types.h"

#define ATA_PRD_ENTRIES 64            /* per channel: a 256-sector command needs 33 */
#define ATA_MAX_SECTORS 256           /* per command (LBA28's count 0) */

struct ata_stats {
  uint32_t irqs;                      /* IDE interrupts taken (both channels) */
  uint32_t dma_commands, pio_commands;
  uint32_t timeouts;
  uint32_t resets;                    /* channel software resets (after a timeout) */
};
extern struct ata_stats ata_stats;
/* 1 when transfers use bus-master DMA (`ata_dma=off` forces PIO). */
extern uint32_t ata_dma;

/* Finds the controller (pci_init first) and IDENTIFYs the four positions,
 * filling blk_devices. */
void ata_init(void);
/* count (1..ATA_MAX_SECTORS) sectors at lba: 0, -EIO, -ETIMEDOUT; *status and
 * *error get the device's registers for the error record. */
int ata_transfer(struct blk_device *d, bool write, uint64_t lba, uint32_t count, void *buf,
                 uint8_t *status, uint8_t *error);
int ata_flush(struct blk_device *d, uint8_t *status, uint8_t *error);
/* IRQ 14 and 15, from trap(). */
void ata_irq(uint32_t line);
