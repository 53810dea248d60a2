/* The PCI bus, through configuration mechanism #1 (ports 0xCF8/0xCFC).
 *
 * pci_init scans bus 0 and the buses behind any PCI-to-PCI bridge on it, and
 * writes one record per function found:
 *   PCI bdf=<bb:dd.f> vendor=<hex> device=<hex> class=<hex> (class, subclass, prog-if)
 * Drivers find their controller with pci_find_class. */
#pragma once

#include "types.h"

#define PCI_MAX_FUNCTIONS 32

/* Configuration-space offsets drivers use. */
#define PCI_COMMAND 0x04
#define PCI_COMMAND_IO 0x1
#define PCI_COMMAND_MASTER 0x4

struct pci_function {
  uint8_t bus, dev, fn;
  uint16_t vendor, device;
  uint32_t class_code;  /* class << 16 | subclass << 8 | prog-if */
};

extern struct pci_function pci_functions[PCI_MAX_FUNCTIONS];
extern uint32_t pci_function_count;

void pci_init(void);
/* The first function whose class and subclass are (class_code >> 8), or NULL. */
const struct pci_function *pci_find_class(uint8_t cls, uint8_t subclass);
uint32_t pci_read32(const struct pci_function *f, uint8_t offset);
void pci_write32(const struct pci_function *f, uint8_t offset, uint32_t value);
uint16_t pci_read16(const struct pci_function *f, uint8_t offset);
void pci_write16(const struct pci_function *f, uint8_t offset, uint16_t value);
