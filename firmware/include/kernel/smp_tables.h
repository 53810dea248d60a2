/* The CPUs the firmware's tables list: ACPI's MADT, else the MP table.
 *
 * smp_tables_init reads the MADT ("APIC") through acpi_read_table: enabled
 * local APIC entries (type 0, flags bit 0; bit 1, "online capable", counts
 * as not present) and the first I/O APIC (type 1).  A table with an entry
 * shorter than 2 bytes or than its type needs, an entry running past the
 * table, or an APIC ID listed twice is refused whole, as is one that does not
 * list the BSP: one `SMP error=<kind> table=APIC` record, and the machine
 * runs on the BSP alone.  More than CPU_MAX enabled CPUs are clipped (the BSP
 * always kept) with an `SMP error=too-many` record.
 *
 * Without a MADT (`acpi=off`, or firmware without ACPI) the MP table is
 * read: its floating pointer in the EBDA's first KiB, then 0xF0000-0xFFFFF,
 * both checksums checked, the entries walked by the base table's length
 * (qboot writes an entry count of 0), processor entries 20 bytes, all
 * others 8.  A CPU without an APIC (CPUID.1:EDX[9] clear, e.g. QEMU's 486)
 * runs alone whatever the tables say.
 *
 * Records:
 *   SMP source=madt|mp cpus=<n> listed=<entries incl. disabled> lapic=0x.. ioapic=0x.. bsp=<id>
 *   SMP cpu=<i> apic=<id>                    (one per enabled CPU, table order)
 *   SMP source=none cpus=1 reason=no-apic|no-tables|refused */
#pragma once

#include "types.h"

#define CPU_MAX 8

/* What the firmware tables say about the CPUs (filled once at boot by smp_tables_init). */
struct smp_tables {
  const char *source;       /* "madt", "mp" or "none" (then count == 1: the BSP alone) */
  uint32_t lapic_base;      /* physical, from the MADT header (0xFEE00000 on QEMU); 0 for none */
  uint32_t ioapic_base;     /* physical, 0 when none listed */
  uint32_t count;           /* enabled CPUs, BSP included, at most CPU_MAX */
  uint8_t apic_id[CPU_MAX]; /* their APIC IDs in table order; the BSP's is among them */
  uint8_t bsp_apic_id;      /* from CPUID.1:EBX[31:24] (no MMIO needed) */
};

extern struct smp_tables smp_tables;

/* After ACPI is usable (after the NUMA setup in main.c). */
void smp_tables_init(void);
