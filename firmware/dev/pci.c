/* PCI configuration mechanism #1: write the function's address to 0xCF8,
 * read or write its dword at 0xCFC. */
#include "dev/pci.h"
#include "arch/i386/io.h"
#include "kernel/kprintf.h"

#define PCI_ADDRESS 0xCF8
#define PCI_DATA 0xCFC
#define PCI_ENABLE 0x80000000u
#define PCI_VENDOR_NONE 0xFFFF
#define PCI_HEADER_TYPE 0x0E
#define PCI_HEADER_MULTI 0x80
#define PCI_CLASS_BRIDGE 0x06
#define PCI_SUBCLASS_PCI_BRIDGE 0x04
#define PCI_SECONDARY_BUS 0x19

struct pci_function pci_functions[PCI_MAX_FUNCTIONS];
uint32_t pci_function_count;

static uint32_t address(uint8_t bus, uint8_t dev, uint8_t fn, uint8_t offset) {
  return PCI_ENABLE | (uint32_t)bus << 16 | (uint32_t)dev << 11 | (uint32_t)fn << 8 |
         (offset & 0xFC);
}

static uint32_t read_at(uint8_t bus, uint8_t dev, uint8_t fn, uint8_t offset) {
  outl(PCI_ADDRESS, address(bus, dev, fn, offset));
  return inl(PCI_DATA);
}

uint32_t pci_read32(const struct pci_function *f, uint8_t offset) {
  return read_at(f->bus, f->dev, f->fn, offset);
}

void pci_write32(const struct pci_function *f, uint8_t offset, uint32_t value) {
  outl(PCI_ADDRESS, address(f->bus, f->dev, f->fn, offset));
  outl(PCI_DATA, value);
}

uint16_t pci_read16(const struct pci_function *f, uint8_t offset) {
  return (uint16_t)(pci_read32(f, offset) >> ((offset & 2) * 8));
}

void pci_write16(const struct pci_function *f, uint8_t offset, uint16_t value) {
  uint32_t shift = (offset & 2) * 8;
  uint32_t old = pci_read32(f, offset);
  pci_write32(f, offset, (old & ~(0xFFFFu << shift)) | (uint32_t)value << shift);
}

static void scan_bus(uint8_t bus, uint32_t depth);

static void add_function(uint8_t bus, uint8_t dev, uint8_t fn, uint32_t id, uint32_t depth) {
  uint32_t class_code = read_at(bus, dev, fn, 0x08) >> 8;
  krecord("PCI bdf=%02x:%02x.%u vendor=0x%04x device=0x%04x class=0x%06x\n", bus, dev, fn,
          id & 0xFFFF, id >> 16, class_code);
  if (pci_function_count < PCI_MAX_FUNCTIONS)
    pci_functions[pci_function_count++] = (struct pci_function){
        .bus = bus, .dev = dev, .fn = fn, .vendor = id & 0xFFFF, .device = id >> 16,
        .class_code = class_code};
  /* A PCI-to-PCI bridge: its secondary bus (a depth bound guards against a
   * bridge misconfigured to point back at its own bus). */
  if (class_code >> 8 == (PCI_CLASS_BRIDGE << 8 | PCI_SUBCLASS_PCI_BRIDGE) && depth < 4) {
    uint8_t secondary = read_at(bus, dev, fn, PCI_SECONDARY_BUS & 0xFC) >> 8 & 0xFF;
    if (secondary > bus) scan_bus(secondary, depth + 1);
  }
}

static void scan_bus(uint8_t bus, uint32_t depth) {
  for (uint8_t dev = 0; dev < 32; dev++) {
    uint32_t id = read_at(bus, dev, 0, 0);
    if ((id & 0xFFFF) == PCI_VENDOR_NONE) continue;
    bool multi = (read_at(bus, dev, 0, PCI_HEADER_TYPE & 0xFC) >> 16) & PCI_HEADER_MULTI;
    for (uint8_t fn = 0; fn < (multi ? 8 : 1); fn++) {
      if (fn) id = read_at(bus, dev, fn, 0);
      if ((id & 0xFFFF) != PCI_VENDOR_NONE) add_function(bus, dev, fn, id, depth);
    }
  }
}

void pci_init(void) {
  pci_function_count = 0;
  scan_bus(0, 0);
}

const struct pci_function *pci_find_class(uint8_t cls, uint8_t subclass) {
  for (uint32_t i = 0; i < pci_function_count; i++)
    if (pci_functions[i].class_code >> 8 == ((uint32_t)cls << 8 | subclass))
      return &pci_functions[i];
  return NULL;
}
