/* ACPI: finding the RSDP, walking the RSDT, copying a table out (see
 * kernel/acpi.h).  Physical memory is read through a read-only kmap window a
 * page at a time (the direct map leaves out the first MiB and reserved
 * regions, where firmware keeps its tables), and only where the boot memory
 * map says there is memory: a pointer into a hole (PCI, the APICs) is never
 * followed, so nothing here reads a device's registers. */
#include "kernel/acpi.h"

#include "kernel/bootinfo.h"
#include "kernel/cmdline.h"
#include "lib/string.h"
#include "mm/pmm.h"
#include "mm/vmm.h"

#define RSDP_SIZE 20            /* ACPI 1.0's part: signature .. RSDT address */
#define RSDT_MAX 4096           /* 1,015 tables: more than any firmware lists */
#define BIOS_AREA_START 0xE0000
#define BIOS_AREA_END 0x100000
#define FOUR_GIB (1ull << 32)

/* Whether [pa, pa + len) may be read: below 4 GiB (paddr_t is 32-bit, so
 * nothing past it wraps to frame 0) and inside the boot memory map. */
static bool readable(uint64_t pa, uint64_t len) {
  return pa + len <= FOUR_GIB && boot_map_covers(pa, pa + len);
}

void acpi_copy_phys(paddr_t pa, void *dst, uint32_t len) {
  uint8_t *out = dst;
  while (len > 0) {
    uint32_t in_page = FRAME_SIZE - (pa & (FRAME_SIZE - 1));
    uint32_t n = MIN(len, in_page);
    const uint8_t *window = kmap_window_readonly(pa >> FRAME_SHIFT);
    memcpy(out, window + (pa & (FRAME_SIZE - 1)), n);
    kunmap((void *)window);
    pa += n;
    out += n;
    len -= n;
  }
}

static uint8_t sum_bytes(const void *p, uint32_t len) {
  const uint8_t *b = p;
  uint8_t sum = 0;
  for (uint32_t i = 0; i < len; i++) sum += b[i];
  return sum;
}

/* Whether the RSDP candidate's 20 bytes have the signature and add up. */
static bool valid_rsdp(const uint8_t rsdp[RSDP_SIZE]) {
  /* the checksum: code may hold the signature as a constant */
  return memcmp(rsdp, "RSD PTR ", 8) == 0 && sum_bytes(rsdp, RSDP_SIZE) == 0;
}

/* The RSDT's address from a valid RSDP in [start, end) (16-byte aligned,
 * both), or 0.  Each page is mapped once for all its candidates. */
static paddr_t scan_rsdp(paddr_t start, paddr_t end) {
  for (paddr_t page = start & ~(FRAME_SIZE - 1); page < end; page += FRAME_SIZE) {
    paddr_t from = MAX(start, page), to = MIN(end, page + FRAME_SIZE);
    const uint8_t *window = kmap_window_readonly(page >> FRAME_SHIFT);
    paddr_t found = 0;
    uint8_t rsdp[RSDP_SIZE];
    for (paddr_t pa = from; !found && pa + RSDP_SIZE <= end && pa < to; pa += 16) {
      if (pa + RSDP_SIZE <= page + FRAME_SIZE) memcpy(rsdp, window + (pa - page), RSDP_SIZE);
      else acpi_copy_phys(pa, rsdp, RSDP_SIZE); /* the last candidate runs into the next page */
      if (valid_rsdp(rsdp)) memcpy(&found, rsdp + 16, sizeof found);
    }
    kunmap((void *)window);
    if (found) return found;
  }
  return 0;
}

/* The EBDA starts where the loader's lower memory ends (the BIOS shrinks
 * conventional memory by the EBDA's size); the BDA's pointer to it at 0x40E
 * lies in frame 0, which the direct map leaves unmapped to catch null
 * pointers. */
static paddr_t find_rsdt(void) {
  paddr_t ebda = boot_info.mem_lower_kib * 1024;
  paddr_t rsdt = 0;
  if (ebda >= 0x400 && ebda < BIOS_AREA_END) rsdt = scan_rsdp(ebda & ~15u, (ebda & ~15u) + 1024);
  if (!rsdt) rsdt = scan_rsdp(BIOS_AREA_START, BIOS_AREA_END);
  return rsdt;
}

/* Copies the table at pa into buf after checking its length and checksum;
 * its length, or -1 with *err (the table named sig). */
static int32_t read_checked(paddr_t pa, const char *sig, void *buf, uint32_t cap,
                            struct acpi_error *err) {
  err->table = sig;
  struct acpi_header h;
  if (!readable(pa, ACPI_HEADER_SIZE)) {
    err->kind = "past-memory";
    return -1;
  }
  acpi_copy_phys(pa, &h, sizeof h);
  if (h.length < ACPI_HEADER_SIZE) {
    err->kind = "truncated";
    return -1;
  }
  if (h.length > cap) {
    err->kind = "overlong";
    return -1;
  }
  if (!readable(pa, h.length)) {
    err->kind = "past-memory";
    return -1;
  }
  acpi_copy_phys(pa, buf, h.length);
  if (sum_bytes(buf, h.length) != 0) {
    err->kind = "checksum";
    return -1;
  }
  return (int32_t)h.length;
}

/* The RSDT, read and checked once: boot asks for several tables. */
static uint8_t rsdt[RSDT_MAX];
static int32_t rsdt_len = -2; /* -2: not looked for yet; 0: none; -1: refused */
static struct acpi_error rsdt_err;

int32_t acpi_read_table(const char *sig, void *buf, uint32_t cap, struct acpi_error *err) {
  if (rsdt_len == -2) {
    /* acpi=off: as if the firmware had no tables (to test the fallbacks) */
    paddr_t rsdt_phys = cmdline_bool("acpi", true) ? find_rsdt() : 0;
    rsdt_len = rsdt_phys ? read_checked(rsdt_phys, "RSDT", rsdt, sizeof rsdt, &rsdt_err) : 0;
  }
  if (rsdt_len < 0) *err = rsdt_err;
  if (rsdt_len <= 0) return rsdt_len;
  for (uint32_t at = ACPI_HEADER_SIZE; at + 4 <= (uint32_t)rsdt_len; at += 4) {
    uint32_t table;
    memcpy(&table, rsdt + at, sizeof table);
    char found[4];
    if (!readable(table, 4)) continue; /* nothing there to read */
    acpi_copy_phys(table, found, 4);
    if (memcmp(found, sig, 4) == 0) return read_checked(table, sig, buf, cap, err);
  }
  return 0;
}
