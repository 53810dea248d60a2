/* Legacy virtio over PCI (virtio 0.9.5 / the spec's "legacy interface"):
 * the device's registers are in its I/O BAR0, its queues are split
 * virtqueues in guest memory laid out with the legacy 4096-byte alignment,
 * and the driver hands the device each queue's page frame number.
 *
 * virtio_open finds the function, resets it and acknowledges it (status
 * ACKNOWLEDGE | DRIVER); the driver then accepts features, sets up its
 * queues (virtio_queue_init) and ends with virtio_ready (DRIVER_OK).
 * Anything refused on the way is one record
 *   VIRTIO error=<kind> device=<hex> ...
 * (kinds: bar0-not-io, no-queue, queue-memory, timeout).  The driver then
 * resets the device with virtio_fail, except after bar0-not-io: with no I/O
 * BAR there is no status register to write. */
#pragma once

#include "dev/pci.h"
#include "types.h"

#define VIRTIO_VENDOR 0x1AF4

/* BAR0 registers (legacy, no MSI-X: the device's configuration follows at 0x14). */
#define VIRTIO_REG_DEVICE_FEATURES 0x00 /* 32 bits */
#define VIRTIO_REG_GUEST_FEATURES 0x04  /* 32 bits */
#define VIRTIO_REG_QUEUE_PFN 0x08       /* 32 bits: the selected queue's frame number */
#define VIRTIO_REG_QUEUE_SIZE 0x0C      /* 16 bits, read-only */
#define VIRTIO_REG_QUEUE_SELECT 0x0E    /* 16 bits */
#define VIRTIO_REG_QUEUE_NOTIFY 0x10    /* 16 bits: write a queue's index */
#define VIRTIO_REG_STATUS 0x12          /* 8 bits */
#define VIRTIO_REG_ISR 0x13             /* 8 bits: reading it acknowledges the interrupt */
#define VIRTIO_REG_CONFIG 0x14          /* device-specific configuration */

/* Device status bits. */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER 0x02
#define VIRTIO_STATUS_DRIVER_OK 0x04

/* The legacy layout aligns the used ring to this. */
#define VIRTIO_LEGACY_ALIGN 4096u

/* Split virtqueue structures (shared with the device: exact layouts). */
struct virtq_desc {
  uint64_t addr;  /* physical */
  uint32_t len;
  uint16_t flags; /* VIRTQ_DESC_F_* */
  uint16_t next;
} __attribute__((packed));
#define VIRTQ_DESC_F_WRITE 2 /* the device writes the buffer (otherwise it reads it) */

#define VIRTQ_AVAIL_F_NO_INTERRUPT 1 /* the driver polls: no interrupt per used buffer */

struct virtq_avail {
  uint16_t flags;
  uint16_t idx;
  uint16_t ring[]; /* [size], then used_event */
} __attribute__((packed));

struct virtq_used_elem {
  uint32_t id;
  uint32_t len;
} __attribute__((packed));

struct virtq_used {
  uint16_t flags;
  uint16_t idx;
  struct virtq_used_elem ring[]; /* [size], then avail_event */
} __attribute__((packed));

/* One queue as the driver sees it.  The driver here keeps at most one buffer
 * in flight per queue (descriptor 0), which is all the balloon needs. */
struct virtq {
  uint16_t index, size;
  paddr_t phys;                  /* the queue's memory (VIRTIO_LEGACY_ALIGN-aligned) */
  uint32_t frames;               /* its size in frames */
  volatile struct virtq_desc *desc;
  volatile struct virtq_avail *avail;
  volatile struct virtq_used *used;
  uint16_t avail_idx;            /* the driver's copy of avail->idx (never read back) */
  uint16_t last_used;            /* used->idx the driver has consumed up to */
};

struct virtio_device {
  const struct pci_function *pci;
  uint16_t io;   /* BAR0's port base */
  uint8_t irq;   /* the PCI interrupt line (0xFF: none routed) */
  uint16_t device_id;
};

/* Counters the harness reads. */
struct virtio_stats {
  uint32_t notifies;  /* queue notifications written */
  uint32_t completed; /* buffers the device returned (used ring) */
  uint32_t timeouts;  /* buffers the device did not return in time */
  uint32_t errors;    /* refused setups, all kinds */
};
extern struct virtio_stats virtio_stats;

/* Finds the first function (in bus order) with vendor VIRTIO_VENDOR and this device id,
 * assigns BAR0 if the firmware left it unassigned, enables I/O and bus
 * mastering, resets the device and sets ACKNOWLEDGE | DRIVER.  0, or
 * -ENXIO when there is no such function (no record: the device is
 * optional), -EIO when its BAR0 is not an I/O BAR (a record). */
int virtio_open(struct virtio_device *dev, uint16_t device_id);
/* The device's feature bits; virtio_accept writes the subset the driver uses. */
uint32_t virtio_device_features(const struct virtio_device *dev);
void virtio_accept(const struct virtio_device *dev, uint32_t features);
/* Allocates and zeroes queue `index`'s memory and gives it to the device.
 * 0, -ENXIO (the device has no such queue), -ENOMEM. */
int virtio_queue_init(struct virtio_device *dev, struct virtq *q, uint16_t index);
void virtio_ready(const struct virtio_device *dev);
/* Resets the device (status 0) after a failed setup or a timeout: it stops
 * using its queues and forgets them, buffers in flight included. */
void virtio_fail(const struct virtio_device *dev);

/* Puts one buffer (physical address, length; device_writes: the device fills
 * it) on the queue as descriptor 0 and notifies the device. */
void virtio_queue_submit(struct virtio_device *dev, struct virtq *q, paddr_t buf, uint32_t len,
                         bool device_writes);
/* Whether the device has returned a buffer the driver has not consumed yet;
 * consumes it. */
bool virtio_queue_take(struct virtq *q);
/* Submits and waits (polling the used ring) for the device to return the
 * buffer: 0, or -ETIMEDOUT (counted) after VIRTIO_SEND_SECONDS of wall time.
 * After a timeout the device may still own the buffer and the queue: the
 * caller must virtio_fail the device before it reuses either. */
int virtio_queue_send(struct virtio_device *dev, struct virtq *q, paddr_t buf, uint32_t len);

/* Reads (and so acknowledges) the ISR: bit 0 a used buffer, bit 1 a
 * configuration change. */
uint8_t virtio_isr(const struct virtio_device *dev);
uint32_t virtio_config_read32(const struct virtio_device *dev, uint32_t offset);
void virtio_config_write32(const struct virtio_device *dev, uint32_t offset, uint32_t value);
