/* Legacy virtio-pci transport and split virtqueues (see dev/virtio.h). */
#include "dev/virtio.h"
#include "arch/i386/io.h"
#include "dev/rtc.h"
#include "kernel/errno.h"
#include "kernel/kprintf.h"
#include "lib/string.h"
#include "memlayout.h"
#include "mm/pmm.h"

#define PCI_BAR0 0x10
#define PCI_INTERRUPT_LINE 0x3C /* and PCI_INTERRUPT_PIN, 0x3D, the byte after it */
/* Our choice of BAR0 when the firmware assigned none (qboot assigns no BARs;
 * the IDE bus master takes 0xC000..0xC00F). */
#define VIRTIO_BAR0_DEFAULT 0xC100
/* Wall-clock seconds before a buffer counts as lost.  QEMU returns a buffer
 * during the notify's port write under TCG, but under KVM (ioeventfd) or on
 * a loaded host the device works beside the guest, so the bound is time, not
 * a count of polls.  rtc_seconds() has one-second steps: 2 means at least
 * one whole second. */
#define VIRTIO_SEND_SECONDS 2u
/* Polls of the used ring between two reads of the clock (a CMOS read is a
 * few port accesses: too slow for every poll). */
#define VIRTIO_POLLS_PER_CLOCK 4096u

#define PIIX_PIRQ_ROUTE 0x60 /* PIRQA..PIRQD -> ISA IRQ, one byte each; bit 7: off */
#define PIIX_PIRQ_OFF 0x80

struct virtio_stats virtio_stats;

/* The ISA IRQ the function's INTx pin reaches, or 0xFF.  Behind the i440FX's
 * PIIX3/PIIX4 the chipset decides: slot s pin p (1 = INTA) drives PIRQ
 * (s - 1 + p - 1) mod 4, which the PIIX routes to an IRQ.  The interrupt
 * line register is only what the firmware wrote there (qboot's can differ
 * from the routing it programmed), so it is the fallback. */
static uint8_t irq_of(const struct pci_function *f) {
  uint8_t pin = (uint8_t)(pci_read16(f, PCI_INTERRUPT_LINE) >> 8); /* 0x3D: the word's high byte */
  if (pin < 1 || pin > 4) return 0xFF;
  for (uint32_t i = 0; i < pci_function_count; i++) {
    const struct pci_function *isa = &pci_functions[i];
    if (isa->vendor == 0x8086 && (isa->device == 0x7000 || isa->device == 0x7110) &&
        isa->bus == f->bus) {
      uint32_t pirq = (uint32_t)(f->dev + 3 + pin - 1) & 3; /* (dev - 1 + pin - 1) mod 4 */
      uint8_t route = (uint8_t)(pci_read32(isa, PIIX_PIRQ_ROUTE) >> (8 * pirq));
      return route & PIIX_PIRQ_OFF || (route & 0xF) == 0 ? 0xFF : route & 0xF;
    }
  }
  uint8_t line = (uint8_t)pci_read32(f, PCI_INTERRUPT_LINE);
  return line > 0 && line < 16 ? line : 0xFF; /* 0 / 0xFF: the firmware routed none */
}

static void refuse(const struct virtio_device *dev, const char *kind) {
  virtio_stats.errors++;
  krecord("VIRTIO error=%s device=0x%04x\n", kind, dev->device_id);
}

int virtio_open(struct virtio_device *dev, uint16_t device_id) {
  *dev = (struct virtio_device){.device_id = device_id, .irq = 0xFF};
  for (uint32_t i = 0; i < pci_function_count; i++)
    if (pci_functions[i].vendor == VIRTIO_VENDOR && pci_functions[i].device == device_id) {
      dev->pci = &pci_functions[i];
      break;
    }
  if (!dev->pci) return -ENXIO;
  uint32_t bar = pci_read32(dev->pci, PCI_BAR0);
  if (!(bar & 1)) {
    refuse(dev, "bar0-not-io");
    return -EIO;
  }
  if ((bar & ~3u) == 0) {
    pci_write32(dev->pci, PCI_BAR0, VIRTIO_BAR0_DEFAULT);
    bar = pci_read32(dev->pci, PCI_BAR0);
  }
  dev->io = (uint16_t)(bar & ~3u);
  pci_write16(dev->pci, PCI_COMMAND,
              pci_read16(dev->pci, PCI_COMMAND) | PCI_COMMAND_IO | PCI_COMMAND_MASTER);
  dev->irq = irq_of(dev->pci);
  outb(dev->io + VIRTIO_REG_STATUS, 0); /* reset */
  outb(dev->io + VIRTIO_REG_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
  outb(dev->io + VIRTIO_REG_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
  krecord("VIRTIO device=0x%04x bdf=%02x:%02x.%u io=0x%x irq=%u\n", device_id, dev->pci->bus,
          dev->pci->dev, dev->pci->fn, dev->io, dev->irq);
  return 0;
}

uint32_t virtio_device_features(const struct virtio_device *dev) {
  return inl(dev->io + VIRTIO_REG_DEVICE_FEATURES);
}

void virtio_accept(const struct virtio_device *dev, uint32_t features) {
  outl(dev->io + VIRTIO_REG_GUEST_FEATURES, features);
}

/* Bytes of a legacy split queue of `size` entries: descriptors and the
 * available ring, then (aligned) the used ring. */
static uint32_t ring_bytes(uint16_t size) {
  uint32_t first = sizeof(struct virtq_desc) * size + sizeof(uint16_t) * (3u + size);
  uint32_t used = sizeof(uint16_t) * 3u + sizeof(struct virtq_used_elem) * size;
  return ALIGN_UP(first, VIRTIO_LEGACY_ALIGN) + ALIGN_UP(used, VIRTIO_LEGACY_ALIGN);
}

int virtio_queue_init(struct virtio_device *dev, struct virtq *q, uint16_t index) {
  outw(dev->io + VIRTIO_REG_QUEUE_SELECT, index);
  uint16_t size = inw(dev->io + VIRTIO_REG_QUEUE_SIZE);
  if (size == 0) {
    refuse(dev, "no-queue");
    return -ENXIO;
  }
  uint32_t bytes = ring_bytes(size);
  void *mem = allocate_pages(bytes / FRAME_SIZE); /* below the direct-map limit */
  if (!mem) {
    refuse(dev, "queue-memory");
    return -ENOMEM;
  }
  paddr_t phys = (paddr_t)mem;
  uint8_t *va = P2V(phys);
  memset(va, 0, bytes);
  uint32_t first = sizeof(struct virtq_desc) * size + sizeof(uint16_t) * (3u + size);
  *q = (struct virtq){
      .index = index,
      .size = size,
      .phys = phys,
      .frames = bytes / FRAME_SIZE,
      .desc = (volatile struct virtq_desc *)va,
      .avail = (volatile struct virtq_avail *)(va + sizeof(struct virtq_desc) * size),
      .used = (volatile struct virtq_used *)(va + ALIGN_UP(first, VIRTIO_LEGACY_ALIGN)),
  };
  /* The driver polls the used rings at its safe points: no interrupt per
   * returned buffer (only the config change interrupts). */
  q->avail->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
  outl(dev->io + VIRTIO_REG_QUEUE_PFN, phys / VIRTIO_LEGACY_ALIGN);
  return 0;
}

void virtio_ready(const struct virtio_device *dev) {
  outb(dev->io + VIRTIO_REG_STATUS,
       VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK);
}

void virtio_fail(const struct virtio_device *dev) { outb(dev->io + VIRTIO_REG_STATUS, 0); }

void virtio_queue_submit(struct virtio_device *dev, struct virtq *q, paddr_t buf, uint32_t len,
                         bool device_writes) {
  q->desc[0].addr = buf;
  q->desc[0].len = len;
  q->desc[0].flags = device_writes ? VIRTQ_DESC_F_WRITE : 0;
  q->desc[0].next = 0;
  /* The index comes from the driver's own copy: the ring is shared memory
   * that a faulty device could overwrite. */
  q->avail->ring[q->avail_idx % q->size] = 0;
  __asm__ volatile("" ::: "memory"); /* the entry before the index that publishes it */
  q->avail_idx++;
  q->avail->idx = q->avail_idx;
  __asm__ volatile("" ::: "memory");
  virtio_stats.notifies++;
  outw(dev->io + VIRTIO_REG_QUEUE_NOTIFY, q->index);
}

bool virtio_queue_take(struct virtq *q) {
  __asm__ volatile("" ::: "memory");
  if (q->used->idx == q->last_used) return false;
  q->last_used++;
  virtio_stats.completed++;
  return true;
}

int virtio_queue_send(struct virtio_device *dev, struct virtq *q, paddr_t buf, uint32_t len) {
  virtio_queue_submit(dev, q, buf, len, false);
  uint32_t start = rtc_seconds();
  for (uint32_t i = 1;; i++) {
    if (virtio_queue_take(q)) return 0;
    if (i % VIRTIO_POLLS_PER_CLOCK == 0 && rtc_elapsed(start, VIRTIO_SEND_SECONDS)) break;
  }
  virtio_stats.timeouts++;
  refuse(dev, "timeout");
  return -ETIMEDOUT;
}

uint8_t virtio_isr(const struct virtio_device *dev) { return inb(dev->io + VIRTIO_REG_ISR); }

uint32_t virtio_config_read32(const struct virtio_device *dev, uint32_t offset) {
  return inl(dev->io + VIRTIO_REG_CONFIG + offset);
}

void virtio_config_write32(const struct virtio_device *dev, uint32_t offset, uint32_t value) {
  outl(dev->io + VIRTIO_REG_CONFIG + offset, value);
}
