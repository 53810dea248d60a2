/* ACPI: finding the RSDP, walking the RSDT, copying a table out (see
 * kernel/acpi.h).  Physical memory is read through a kmap window a page at
 * a time (the direct map leaves out the first MiB and reserved regions,
 * where firmware keeps its tables), so a table may sit anywhere below 4 GiB. */
#include "kernel/acpi.h"

#include "kernel/bootinfo.h"
#include "lib/string.h"
#include "mm/pmm.h"
#include "mm/vmm.h"

#define RSDP_SIZE 20            /* ACPI 1.0's part: signature .. RSDT address */
#define RSDT_MAX 4096           /* 1,015 tables: more than any firmware lists */
#define BIOS_AREA_START 0xE0000
#define BIOS_AREA_END 0x100000

paddr_t acpi_rsdp_phys;

/* Copies len bytes of physical memory at pa into dst, a page at a time. */
static void copy_phys(paddr_t pa, void *dst, uint32_t len) {
  uint8_t *out = dst;
  while (len > 0) {
    uint32_t in_page = FRAME_SIZE - (pa & (FRAME_SIZE - 1));
    uint32_t n = MIN(len, in_page);
    uint8_t *window = kmap_window(pa >> 12); /* the direct map leaves these out */
    memcpy(out, window + (pa & (FRAME_SIZE - 1)), n);
    kunmap(window);
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

uint64_t acpi_memory_map_end(void) {
  uint64_t top = 0;
  for (uint32_t i = 0; i < boot_info.region_count; i++)
    if (boot_info.regions[i].type == 1 /* available */) top = MAX(top, boot_info.regions[i].end);
  for (bool grew = true; grew;) {
    grew = false;
    for (uint32_t i = 0; i < boot_info.region_count; i++) {
      const struct boot_memory_region *r = &boot_info.regions[i];
      if (r->start <= top && r->end > top) {
        top = r->end;
        grew = true;
      }
    }
  }
  return top;
}

/* The RSDT's address from a valid RSDP in [start, end), or 0. */
static paddr_t scan_rsdp(paddr_t start, paddr_t end) {
  uint8_t rsdp[RSDP_SIZE];
  for (paddr_t pa = start; pa + RSDP_SIZE <= end; pa += 16) {
    copy_phys(pa, rsdp, 8);
    if (memcmp(rsdp, "RSD PTR ", 8) != 0) continue;
    copy_phys(pa, rsdp, RSDP_SIZE);
    if (sum_bytes(rsdp, RSDP_SIZE) != 0) continue; /* a stray signature */
    acpi_rsdp_phys = pa;
    uint32_t rsdt;
    memcpy(&rsdt, rsdp + 16, 4);
    return rsdt;
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
  if (ebda >= 0x400 && ebda < BIOS_AREA_END) rsdt = scan_rsdp(ebda, ebda + 1024);
  if (!rsdt) rsdt = scan_rsdp(BIOS_AREA_START, BIOS_AREA_END);
  return rsdt;
}

/* Copies the table at pa into buf after checking its length and checksum;
 * its length, or -1 with *err (the table named sig). */
static int32_t read_checked(paddr_t pa, const char *sig, void *buf, uint32_t cap,
                            struct acpi_error *err) {
  err->table = sig;
  struct acpi_header h;
  uint64_t map_end = acpi_memory_map_end();
  if ((uint64_t)pa + ACPI_HEADER_SIZE > map_end) {
    err->kind = "past-memory";
    return -1;
  }
  copy_phys(pa, &h, sizeof h);
  if (h.length < ACPI_HEADER_SIZE) {
    err->kind = "truncated";
    return -1;
  }
  if (h.length > cap) {
    err->kind = "overlong";
    return -1;
  }
  if ((uint64_t)pa + h.length > map_end) {
    err->kind = "past-memory";
    return -1;
  }
  copy_phys(pa, buf, h.length);
  if (sum_bytes(buf, h.length) != 0) {
    err->kind = "checksum";
    return -1;
  }
  return (int32_t)h.length;
}

int32_t acpi_read_table(const char *sig, void *buf, uint32_t cap, struct acpi_error *err) {
  static uint8_t rsdt[RSDT_MAX];
  paddr_t rsdt_phys = find_rsdt();
  if (!rsdt_phys) return 0;
  int32_t len = read_checked(rsdt_phys, "RSDT", rsdt, sizeof rsdt, err);
  if (len < 0) return -1;
  for (uint32_t at = ACPI_HEADER_SIZE; at + 4 <= (uint32_t)len; at += 4) {
    uint32_t table;
    memcpy(&table, rsdt + at, 4);
    char found[4];
    if ((uint64_t)table + 4 > acpi_memory_map_end()) continue; /* nothing there to read */
    copy_phys(table, found, 4);
    if (memcmp(found, sig, 4) == 0) return read_checked(table, sig, buf, cap, err);
  }
  return 0;
}
