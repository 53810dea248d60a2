"""ACPI tables as bytes: the RSDP, the RSDT, the SRAT (memory and CPU
affinity), the SLIT (distances between proximity domains) and the MADT (the
CPUs and I/O APICs), and what a kernel following ACPI makes of them (pure:
the harness reads the bytes from guest RAM).  Layouts are ACPI 6.x's
(sections 5.2.5, 5.2.7, 5.2.12, 5.2.16, 5.2.17).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

HEADER_SIZE = 36
CHECKSUM_OFFSET = 9          # in every table's header
RSDP_SIGNATURE = b"RSD PTR "
RSDP_SIZE = 20               # ACPI 1.0's part, which its checksum covers
SRAT_HEADER_SIZE = 48        # the header, then 12 reserved bytes
SLIT_HEADER_SIZE = 44        # the header, then a 64-bit locality count
SRAT_CPU, SRAT_MEMORY = 0, 1
SRAT_CPU_SIZE, SRAT_MEMORY_SIZE = 16, 40
ENABLED, HOTPLUG = 0x1, 0x2


def checksum_ok(data: bytes) -> bool:
    return sum(data) & 0xFF == 0


def fix_checksum(table: bytes) -> bytes:
    """``table`` with its header's checksum byte set so the bytes add up to 0."""
    body = bytearray(table)
    body[CHECKSUM_OFFSET] = 0
    body[CHECKSUM_OFFSET] = -sum(body) & 0xFF
    return bytes(body)


def find_rsdp(area: bytes, base: int) -> int | None:
    """The address of the first valid RSDP (signature on a 16-byte boundary,
    20-byte checksum) in ``area``, which starts at physical ``base``."""
    for at in range(-base % 16, len(area) - RSDP_SIZE + 1, 16):
        if area[at:at + 8] == RSDP_SIGNATURE and checksum_ok(area[at:at + RSDP_SIZE]):
            return base + at
    return None


def rsdt_address(rsdp: bytes) -> int:
    return int(struct.unpack_from("<I", rsdp, 16)[0])


def signature(table: bytes) -> str:
    return table[:4].decode("ascii", errors="replace")


def table_length(header: bytes) -> int:
    return int(struct.unpack_from("<I", header, 4)[0])


def rsdt_entries(rsdt: bytes) -> list[int]:
    """The physical addresses the RSDT lists."""
    n = (table_length(rsdt) - HEADER_SIZE) // 4
    return list(struct.unpack_from(f"<{n}I", rsdt, HEADER_SIZE))


@dataclass(frozen=True)
class SratCpu:
    pxm: int
    apic_id: int
    flags: int
    offset: int  # of the entry in the table


@dataclass(frozen=True)
class SratMemory:
    pxm: int
    base: int
    length: int
    flags: int
    offset: int

    @property
    def end(self) -> int:
        return self.base + self.length

    @property
    def usable(self) -> bool:
        """RAM there now: enabled, not hot-pluggable, not empty."""
        return bool(self.flags & ENABLED) and not self.flags & HOTPLUG and self.length > 0


def parse_srat(table: bytes) -> tuple[list[SratCpu], list[SratMemory]]:
    """Processor (type 0) and memory (type 1) affinity entries, in table
    order; other entry types are skipped.  Raises ValueError on an entry
    that runs past the table or is shorter than 2 bytes."""
    cpus, memory = [], []
    at, end = SRAT_HEADER_SIZE, table_length(table)
    while at < end:
        kind, size = table[at], table[at + 1]
        if size < 2 or at + size > end:
            raise ValueError(f"SRAT entry at {at} (type {kind}, length {size}) is malformed")
        if kind == SRAT_CPU and size >= SRAT_CPU_SIZE:
            pxm = table[at + 2] | int.from_bytes(table[at + 9:at + 12], "little") << 8
            cpus.append(SratCpu(pxm, table[at + 3],
                                int(struct.unpack_from("<I", table, at + 4)[0]), at))
        elif kind == SRAT_MEMORY and size >= SRAT_MEMORY_SIZE:
            pxm, base, length, flags = struct.unpack_from("<I2xQQ4xI", table, at + 2)
            memory.append(SratMemory(pxm, base, length, flags, at))
        at += size
    return cpus, memory


def memory_entry(pxm: int, base: int, length: int, flags: int = ENABLED) -> bytes:
    """A 40-byte SRAT memory affinity entry (to build or patch a table)."""
    return struct.pack("<BBI2xQQ4xI8x", SRAT_MEMORY, SRAT_MEMORY_SIZE, pxm, base, length, flags)


def parse_slit(table: bytes) -> list[list[int]]:
    """The distance matrix, rows by proximity domain."""
    n = int(struct.unpack_from("<Q", table, HEADER_SIZE)[0])
    return [list(table[SLIT_HEADER_SIZE + i * n:SLIT_HEADER_SIZE + (i + 1) * n])
            for i in range(n)]


@dataclass(frozen=True)
class Node:
    """A node as the kernel numbers them: by its lowest address."""
    node: int
    pxm: int
    ranges: tuple[tuple[int, int], ...]  # [base, end) in address order
    cpus: int                            # mask of APIC ids

    @property
    def base(self) -> int:
        return self.ranges[0][0]

    @property
    def end(self) -> int:
        return self.ranges[-1][1]

    @property
    def frames(self) -> int:
        return sum((e - b) >> 12 for b, e in self.ranges)


def nodes_from_srat(cpus: list[SratCpu], memory: list[SratMemory]) -> list[Node]:
    """The nodes of a valid SRAT: domains with usable memory, numbered in the
    order of their lowest address; CPUs of a domain without memory count as
    node 0's."""
    usable = sorted((m for m in memory if m.usable), key=lambda m: m.base)
    order: list[int] = []
    for m in usable:
        if m.pxm not in order:
            order.append(m.pxm)
    masks = dict.fromkeys(order, 0)
    for c in cpus:
        if c.flags & ENABLED and c.apic_id < 32:
            masks[c.pxm if c.pxm in masks else order[0]] |= 1 << c.apic_id
    return [Node(i, pxm, tuple((m.base, m.end) for m in usable if m.pxm == pxm), masks[pxm])
            for i, pxm in enumerate(order)]


def node_of(nodes: list[Node], addr: int) -> int | None:
    """The node whose ranges hold physical address ``addr`` (None: none)."""
    for n in nodes:
        if any(b <= addr < e for b, e in n.ranges):
            return n.node
    return None


# -- the MADT ("APIC"): the CPUs and I/O APICs (ACPI 6.x 5.2.12) -----------------------------

MADT_HEADER_SIZE = 44        # the header, the local APIC address, flags
MADT_LAPIC, MADT_IOAPIC = 0, 1
MADT_LAPIC_SIZE, MADT_IOAPIC_SIZE = 8, 12
CPU_MAX = 8                  # the kernel's CPU_MAX (kernel/smp_tables.h)


class TableRefused(ValueError):
    """A table the kernel must refuse whole; ``kind`` is its record's word."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


@dataclass(frozen=True)
class ListedCpu:
    """A processor entry: its APIC ID, whether it is enabled, where it is."""
    apic_id: int
    enabled: bool
    offset: int


@dataclass(frozen=True)
class CpuTable:
    """What a MADT or MP table lists, entries in table order."""
    lapic_base: int
    cpus: tuple[ListedCpu, ...]
    ioapics: tuple[int, ...]  # addresses of the enabled I/O APICs


def no_repeats(cpus: list[ListedCpu], cpu: ListedCpu) -> None:
    """Raises duplicate-apic when ``cpu``'s APIC ID is already listed
    (enabled or not: a spare's ID cannot come back as another CPU's)."""
    if any(c.apic_id == cpu.apic_id for c in cpus):
        raise TableRefused("duplicate-apic", f"APIC ID {cpu.apic_id} again at {cpu.offset}")


def parse_madt(table: bytes) -> CpuTable:
    """The MADT's local APIC entries (type 0; enabled = flags bit 0, "online
    capable" alone is not enabled) and I/O APICs (type 1), other entry types
    skipped.  Raises TableRefused, in the order the kernel finds them, for a
    table shorter than its header, an entry shorter than 2 bytes or than its
    type, an entry running past the table and a repeated APIC ID."""
    end = min(table_length(table), len(table))
    if end < MADT_HEADER_SIZE:
        raise TableRefused("truncated", f"{end} bytes")
    cpus: list[ListedCpu] = []
    ioapics: list[int] = []
    at = MADT_HEADER_SIZE
    while at < end:
        if at + 2 > end:
            raise TableRefused("entry-overrun", f"entry header at {at}")
        kind, size = table[at], table[at + 1]
        if size < 2:
            raise TableRefused("entry-length", f"entry at {at} of {size} bytes")
        if at + size > end:
            raise TableRefused("entry-overrun", f"entry at {at} of {size} bytes")
        minimum = {MADT_LAPIC: MADT_LAPIC_SIZE, MADT_IOAPIC: MADT_IOAPIC_SIZE}.get(kind, 2)
        if size < minimum:
            raise TableRefused("entry-length", f"type {kind} entry at {at} of {size} bytes")
        if kind == MADT_LAPIC:
            flags = int(struct.unpack_from("<I", table, at + 4)[0])
            cpu = ListedCpu(table[at + 3], bool(flags & ENABLED), at)
            no_repeats(cpus, cpu)
            cpus.append(cpu)
        elif kind == MADT_IOAPIC:
            ioapics.append(int(struct.unpack_from("<I", table, at + 4)[0]))
        at += size
    return CpuTable(int(struct.unpack_from("<I", table, HEADER_SIZE)[0]), tuple(cpus),
                    tuple(ioapics))


def lapic_entry(apic_id: int, flags: int = ENABLED, uid: int | None = None) -> bytes:
    """An 8-byte MADT local APIC entry (to build or patch a table)."""
    return struct.pack("<BBBBI", MADT_LAPIC, MADT_LAPIC_SIZE,
                       apic_id if uid is None else uid, apic_id, flags)


def ioapic_entry(ioapic_id: int, address: int, gsi_base: int = 0) -> bytes:
    """A 12-byte MADT I/O APIC entry."""
    return struct.pack("<BBBxII", MADT_IOAPIC, MADT_IOAPIC_SIZE, ioapic_id, address, gsi_base)


# -- what the kernel concludes from either table ---------------------------------------------


@dataclass(frozen=True)
class FoundCpus:
    """What kernel/smp_tables.c must make of a table (its struct smp_tables
    and SMP records): the enabled CPUs in table order, at most CPU_MAX, the
    BSP always among them."""
    source: str               # "madt" or "mp"
    lapic_base: int
    ioapic_base: int          # the first listed, 0 for none
    listed: int               # processor entries, disabled ones too
    apic_ids: tuple[int, ...]
    bsp: int
    enabled: int              # before clipping

    @property
    def clipped(self) -> bool:
        return self.enabled > CPU_MAX

    def records(self) -> list[dict[str, str]]:
        """The SMP records' fields, as machine.records("SMP") gives them."""
        table = "APIC" if self.source == "madt" else "MP"
        head = [{"error": "too-many", "table": table, "enabled": str(self.enabled),
                 "kept": str(CPU_MAX)}] if self.clipped else []
        return head + [{"source": self.source, "cpus": str(len(self.apic_ids)),
                        "listed": str(self.listed), "lapic": f"0x{self.lapic_base:08x}",
                        "ioapic": f"0x{self.ioapic_base:08x}", "bsp": str(self.bsp)}] + [
            {"cpu": str(i), "apic": str(a)} for i, a in enumerate(self.apic_ids)]


def found_cpus(source: str, table: CpuTable, bsp: int) -> FoundCpus:
    """The kernel's view of a table that parsed: raises TableRefused
    (no-bsp) when the BSP's APIC ID is not among the enabled CPUs.  Past
    CPU_MAX the first ones are kept, the BSP taking the last place when it
    comes later."""
    enabled = [c.apic_id for c in table.cpus if c.enabled]
    if bsp not in enabled:
        raise TableRefused("no-bsp", f"APIC ID {bsp} is not an enabled CPU of {enabled}")
    kept = enabled[:CPU_MAX]
    if bsp not in kept:
        kept[-1] = bsp
    ioapic = next((a for a in table.ioapics if a), 0)  # the kernel's "none yet" is 0
    return FoundCpus(source, table.lapic_base, ioapic, len(table.cpus), tuple(kept), bsp,
                     len(enabled))
