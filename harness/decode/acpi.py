"""ACPI tables as bytes: the RSDP, the RSDT, the SRAT (memory and CPU
affinity) and the SLIT (distances between proximity domains), and what a
kernel following ACPI makes of them (pure: the harness reads the bytes from
guest RAM).  Layouts are ACPI 6.x's (sections 5.2.5, 5.2.7, 5.2.16, 5.2.17).
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
