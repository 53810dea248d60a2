/* The CPUs the firmware's tables list (see kernel/smp_tables.h).
 *
 * Both tables are parsed into a scratch struct first, so a refused table
 * leaves nothing behind: smp_tables is either what a whole table says or the
 * BSP alone.  The BSP's APIC ID comes from CPUID, never from the table's
 * order: nothing says the BSP is listed first. */
#include "kernel/smp_tables.h"

#include "arch/i386/cpu.h"
#include "kernel/acpi.h"
#include "kernel/bootinfo.h"
#include "kernel/cpufeatures.h"
#include "kernel/kprintf.h"
#include "lib/string.h"
#include "mm/pmm.h"
#include "mm/vmm.h"

#define MADT_HEADER_SIZE 44  /* the common header, the LAPIC address, flags */
#define MADT_LAPIC 0         /* processor local APIC, 8 bytes */
#define MADT_IOAPIC 1        /* I/O APIC, 12 bytes */
#define MADT_LAPIC_SIZE 8
#define MADT_IOAPIC_SIZE 12
#define LAPIC_ENABLED 0x1    /* bit 1, online capable, is a CPU not there now */

#define MP_POINTER_SIZE 16   /* the floating pointer structure "_MP_" */
#define MP_HEADER_SIZE 44    /* the configuration table's header "PCMP" */
#define MP_CPU 0             /* processor entry, 20 bytes; every other one is 8 */
#define MP_IOAPIC 2
#define MP_CPU_SIZE 20
#define MP_ENTRY_SIZE 8
#define MP_CPU_ENABLED 0x1
#define MP_IOAPIC_ENABLED 0x1
#define BIOS_ROM_START 0xF0000
#define BIOS_ROM_END 0x100000

#define TABLE_MAX 4096       /* QEMU's MADT for 8 CPUs is ~150 bytes, its MP table ~400 */

struct smp_tables smp_tables;
static uint8_t table[TABLE_MAX];

static uint32_t read32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

static uint8_t sum_bytes(const uint8_t *p, uint32_t len) {
  uint8_t sum = 0;
  for (uint32_t i = 0; i < len; i++) sum += p[i];
  return sum;
}

/* CPUID.1:EBX[31:24]: the BSP's initial APIC ID, read without touching the
 * LAPIC's MMIO (not mapped yet). */
static uint8_t own_apic_id(void) {
  uint32_t a, b, c, d;
  cpuid(1, 0, &a, &b, &c, &d);
  return (uint8_t)(b >> 24);
}


/* One more CPU listed (enabled or not) into t; NULL, or the kind of
 * refusal.  `listed` counts every CPU entry, `ids` remembers them all (a
 * disabled entry's ID may not come back enabled either). */
struct cpu_list {
  uint32_t listed, enabled;
  bool clipped, bsp_seen;
  uint8_t ids[256 / 8]; /* a bit per APIC ID already listed */
};

static const char *add_cpu(struct smp_tables *t, struct cpu_list *l, uint8_t id, bool enabled) {
  if (l->ids[id / 8] & (1u << (id % 8))) return "duplicate-apic";
  l->ids[id / 8] |= (uint8_t)(1u << (id % 8));
  l->listed++;
  if (!enabled) return NULL;
  l->enabled++;
  if (id == t->bsp_apic_id) l->bsp_seen = true;
  if (t->count < CPU_MAX) {
    t->apic_id[t->count++] = id;
  } else {
    l->clipped = true;
    /* The BSP runs whatever the table says: it takes the last place. */
    if (id == t->bsp_apic_id) t->apic_id[CPU_MAX - 1] = id;
  }
  return NULL;
}

/* The kind of refusal after the entries were walked, or NULL. */
static const char *check_cpus(const struct cpu_list *l) {
  return l->bsp_seen ? NULL : "no-bsp";
}

/* The MADT in table[0, len) into t; NULL, or the kind of refusal. */
static const char *parse_madt(uint32_t len, struct smp_tables *t, struct cpu_list *l) {
  if (len < MADT_HEADER_SIZE) return "truncated";
  t->lapic_base = read32(table + ACPI_HEADER_SIZE);
  for (uint32_t at = MADT_HEADER_SIZE; at < len;) {
    if (at + 2 > len) return "entry-overrun";
    uint8_t type = table[at], size = table[at + 1];
    if (size < 2) return "entry-length";
    if (at + size > len) return "entry-overrun";
    const uint8_t *e = table + at;
    if (type == MADT_LAPIC) {
      if (size < MADT_LAPIC_SIZE) return "entry-length";
      const char *kind = add_cpu(t, l, e[3], read32(e + 4) & LAPIC_ENABLED);
      if (kind) return kind;
    } else if (type == MADT_IOAPIC) {
      if (size < MADT_IOAPIC_SIZE) return "entry-length";
      if (!t->ioapic_base) t->ioapic_base = read32(e + 4);
    }
    at += size;
  }
  return check_cpus(l);
}

/* The configuration table's address from a valid MP floating pointer in
 * [start, end) (16-byte aligned, so no candidate crosses a page), or 0.  A
 * candidate whose checksum fails is passed over (code may hold the
 * signature as a constant).  Each page is mapped once for its candidates. */
static paddr_t scan_mp_pointer(paddr_t start, paddr_t end) {
  for (paddr_t page = start & ~(FRAME_SIZE - 1); page < end; page += FRAME_SIZE) {
    const uint8_t *window = kmap_window_readonly(page >> FRAME_SHIFT);
    paddr_t found = 0;
    for (paddr_t pa = MAX(start, page); !found && pa < MIN(end, page + FRAME_SIZE); pa += 16) {
      const uint8_t *p = window + (pa - page);
      /* p[8]: the structure's length in 16-byte units, always one */
      if (memcmp(p, "_MP_", 4) == 0 && p[8] == 1 && sum_bytes(p, MP_POINTER_SIZE) == 0)
        found = read32(p + 4);
    }
    kunmap((void *)window);
    if (found) return found;
  }
  return 0;
}

/* MP spec 1.4, 4: the EBDA's first KiB, then the BIOS ROM.  A pointer with
 * no configuration table (a "default configuration") counts as none. */
static paddr_t find_mp_config(void) {
  paddr_t ebda = (boot_info.mem_lower_kib * 1024) & ~15u;
  paddr_t config = 0;
  if (ebda >= 0x400 && ebda < BIOS_ROM_START) config = scan_mp_pointer(ebda, ebda + 1024);
  if (!config) config = scan_mp_pointer(BIOS_ROM_START, BIOS_ROM_END);
  return config;
}

/* The MP configuration table at pa into t; NULL, or the kind of refusal.
 * The entries are walked by the base table's length: the entry count is
 * not trusted (qboot writes 0). */
static const char *parse_mp(paddr_t pa, struct smp_tables *t, struct cpu_list *l) {
  if (!boot_map_covers(pa, (uint64_t)pa + MP_HEADER_SIZE)) return "past-memory";
  acpi_copy_phys(pa, table, MP_HEADER_SIZE);
  uint32_t len = table[4] | (uint32_t)table[5] << 8;
  if (memcmp(table, "PCMP", 4) != 0) return "signature";
  if (len < MP_HEADER_SIZE) return "truncated";
  if (len > sizeof table) return "overlong";
  if (!boot_map_covers(pa, (uint64_t)pa + len)) return "past-memory";
  acpi_copy_phys(pa, table, len);
  if (sum_bytes(table, len) != 0) return "checksum";
  t->lapic_base = read32(table + 36);
  for (uint32_t at = MP_HEADER_SIZE; at < len;) {
    const uint8_t *e = table + at;
    uint32_t size = e[0] == MP_CPU ? MP_CPU_SIZE : MP_ENTRY_SIZE;
    if (at + size > len) return "entry-overrun";
    if (e[0] == MP_CPU) {
      const char *kind = add_cpu(t, l, e[1], e[3] & MP_CPU_ENABLED);
      if (kind) return kind;
    } else if (e[0] == MP_IOAPIC && (e[3] & MP_IOAPIC_ENABLED) && !t->ioapic_base) {
      t->ioapic_base = read32(e + 4);
    }
    at += size;
  }
  return check_cpus(l);
}

static void record_found(const struct smp_tables *t, const struct cpu_list *l) {
  if (l->clipped) krecord("SMP error=too-many table=%s enabled=%u kept=%u\n",
                          strcmp(t->source, "madt") == 0 ? "APIC" : "MP", l->enabled, CPU_MAX);
  krecord("SMP source=%s cpus=%u listed=%u lapic=0x%08x ioapic=0x%08x bsp=%u\n", t->source,
          t->count, l->listed, t->lapic_base, t->ioapic_base, t->bsp_apic_id);
  for (uint32_t i = 0; i < t->count; i++) krecord("SMP cpu=%u apic=%u\n", i, t->apic_id[i]);
}

/* The BSP alone; lapic_base 0: no table named one. */
static void run_alone(uint8_t bsp, const char *reason) {
  smp_tables = (struct smp_tables){.source = "none", .count = 1, .apic_id = {bsp},
                                   .bsp_apic_id = bsp};
  krecord("SMP source=none cpus=1 reason=%s\n", reason);
}

void smp_tables_init(void) {
  /* Without an APIC no other CPU can be started (QEMU still models one on
   * -cpu 486, but CPUID says it is not there, and CPUID is the contract). */
  if (!cpu_features.apic) return run_alone(0, "no-apic");
  uint8_t bsp = own_apic_id();
  struct smp_tables t = {.bsp_apic_id = bsp};
  struct cpu_list l = {0};

  struct acpi_error err;
  int32_t len = acpi_read_table("APIC", table, sizeof table, &err);
  const char *kind;
  if (len < 0) {
    krecord("SMP error=%s table=%s\n", err.kind, err.table);
    return run_alone(bsp, "refused");
  }
  if (len > 0) {
    t.source = "madt";
    kind = parse_madt((uint32_t)len, &t, &l);
    if (kind) {
      krecord("SMP error=%s table=APIC\n", kind);
      return run_alone(bsp, "refused");
    }
  } else {
    paddr_t config = find_mp_config();
    if (!config) return run_alone(bsp, "no-tables");
    t.source = "mp";
    kind = parse_mp(config, &t, &l);
    if (kind) {
      krecord("SMP error=%s table=MP\n", kind);
      return run_alone(bsp, "refused");
    }
  }
  smp_tables = t;
  record_found(&t, &l);
}
