/* ACPI tables as the firmware (BIOS) left them: the RSDP, the RSDT and any
 * table the RSDT lists, read through read-only kmap windows (the tables may
 * lie anywhere in low memory: qboot puts them below 1 MiB, SeaBIOS at the
 * top of RAM) and copied out whole, every checksum checked.  An RSDT entry
 * pointing outside the boot memory map is passed over unread.  The XSDT is not needed: every
 * table a 32-bit machine's firmware provides is in the RSDT too.
 *
 * The RSDP is looked for as ACPI says: in the first KiB of the EBDA (where
 * the loader's lower memory ends: the BDA's word at 0x40E lies in frame 0,
 * unmapped), then in 0xE0000-0xFFFFF, on 16-byte
 * boundaries; a candidate whose 20-byte checksum fails is passed over (code
 * may hold the signature as a constant), so a machine without a valid RSDP
 * simply has no tables. */
#pragma once

#include "types.h"

#define ACPI_HEADER_SIZE 36

/* The header every ACPI system description table starts with. */
struct acpi_header {
  char signature[4];
  uint32_t length; /* of the whole table, header included */
  uint8_t revision;
  uint8_t checksum; /* the table's bytes add up to 0 (mod 256) */
  char oem_id[6];
  char oem_table_id[8];
  uint32_t oem_revision;
  uint32_t creator_id;
  uint32_t creator_revision;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_header) == ACPI_HEADER_SIZE, "ACPI header layout");

/* Why a table was refused: a kind (checksum, truncated, overlong,
 * past-memory) and the table's signature ("RSDT", or the one asked for). */
struct acpi_error {
  const char *kind;
  const char *table;
};

/* Copies the table with signature sig (4 characters, e.g. "SRAT") into buf
 * (cap bytes).  Returns its length; 0 when there is no RSDP (or `acpi=off`
 * is on the command line) or the RSDT
 * lists no such table; -1 with *err filled when the RSDT or the table is
 * refused: a checksum that does not add up, a length shorter than its
 * header or longer than cap (or, for the RSDT, than a page), or a table
 * (or the RSDT itself) not wholly inside the boot memory map below 4 GiB
 * (past-memory: past its top, in a hole such as the PCI or APIC ranges, or
 * across 4 GiB).  The RSDT is read and checked on the first call and kept:
 * later calls give the same answer for it. */
int32_t acpi_read_table(const char *sig, void *buf, uint32_t cap, struct acpi_error *err);

/* Copies len bytes of physical memory at pa into dst through read-only kmap
 * windows, a page at a time (firmware tables: the ACPI tables, the MP table).
 * The caller has checked that the range is RAM in the boot memory map or the
 * BIOS area. */
void acpi_copy_phys(paddr_t pa, void *dst, uint32_t len);
