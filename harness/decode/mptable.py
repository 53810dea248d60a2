"""The Intel MultiProcessor table (MP spec 1.4, chapter 4) as bytes: the
floating pointer and the configuration table, the fallback a kernel reads
for its CPUs when there is no MADT (pure: the harness reads the bytes from
guest RAM).  Its entries are walked by the base table's length, never by
its entry count: qboot writes 0 there."""

from __future__ import annotations

import struct

from harness.decode.acpi import CpuTable, ListedCpu, TableRefused, checksum_ok, no_repeats

POINTER_SIGNATURE = b"_MP_"
POINTER_SIZE = 16            # one 16-byte paragraph
CONFIG_SIGNATURE = b"PCMP"
CONFIG_HEADER_SIZE = 44
CONFIG_CHECKSUM_OFFSET = 7
CPU, IOAPIC = 0, 2           # entry types; 1 bus, 3 and 4 interrupt assignments
CPU_SIZE, ENTRY_SIZE = 20, 8  # a processor entry, every other entry
CPU_ENABLED, CPU_BSP = 0x1, 0x2
IOAPIC_ENABLED = 0x1


def find_pointer(area: bytes, base: int) -> int | None:
    """The address of the first valid floating pointer (signature on a
    16-byte boundary, length 1, checksum) in ``area``, which starts at
    physical ``base``."""
    for at in range(-base % 16, len(area) - POINTER_SIZE + 1, 16):
        p = area[at:at + POINTER_SIZE]
        if p[:4] == POINTER_SIGNATURE and p[8] == 1 and checksum_ok(p):
            return base + at
    return None


def config_address(pointer: bytes) -> int:
    """The configuration table's address from the floating pointer (0: the
    firmware describes a default configuration instead)."""
    return int(struct.unpack_from("<I", pointer, 4)[0])


def base_length(header: bytes) -> int:
    return int(struct.unpack_from("<H", header, 4)[0])


def entry_count(header: bytes) -> int:
    return int(struct.unpack_from("<H", header, 34)[0])


def fix_checksum(config: bytes) -> bytes:
    """``config`` (its base table) with the checksum byte set so it adds up to 0."""
    body = bytearray(config)
    body[CONFIG_CHECKSUM_OFFSET] = 0
    body[CONFIG_CHECKSUM_OFFSET] = -sum(body) & 0xFF
    return bytes(body)


def parse_config(table: bytes, cap: int = 4096) -> CpuTable:
    """The processor entries (type 0, 20 bytes, flags bit 0 enabled) and the
    enabled I/O APICs (type 2) of the base configuration table, walked by its
    length.  Raises TableRefused, in the order the kernel finds them: a wrong
    signature, a length shorter than the header or over the kernel's buffer
    (``cap``), a failed checksum, an entry running past the table, a repeated
    APIC ID."""
    if table[:4] != CONFIG_SIGNATURE:
        raise TableRefused("signature", repr(table[:4]))
    end = base_length(table)
    if end < CONFIG_HEADER_SIZE:
        raise TableRefused("truncated", f"base length {end}")
    if end > cap:
        raise TableRefused("overlong", f"base length {end}")
    if len(table) < end:
        raise ValueError(f"{len(table)} bytes of a {end}-byte table given")
    if not checksum_ok(table[:end]):
        raise TableRefused("checksum", "the base table does not add up to 0")
    cpus: list[ListedCpu] = []
    ioapics: list[int] = []
    at = CONFIG_HEADER_SIZE
    while at < end:
        kind = table[at]
        size = CPU_SIZE if kind == CPU else ENTRY_SIZE
        if at + size > end:
            raise TableRefused("entry-overrun", f"type {kind} entry at {at}")
        if kind == CPU:
            cpu = ListedCpu(table[at + 1], bool(table[at + 3] & CPU_ENABLED), at)
            no_repeats(cpus, cpu)
            cpus.append(cpu)
        elif kind == IOAPIC and table[at + 3] & IOAPIC_ENABLED:
            ioapics.append(int(struct.unpack_from("<I", table, at + 4)[0]))
        at += size
    return CpuTable(int(struct.unpack_from("<I", table, 36)[0]), tuple(cpus), tuple(ioapics))


def cpu_entry(apic_id: int, flags: int = CPU_ENABLED) -> bytes:
    """A 20-byte processor entry (to build or patch a table)."""
    return struct.pack("<BBBBII8x", CPU, apic_id, 0x14, flags, 0x600, 0x201)


def ioapic_entry(ioapic_id: int, address: int, flags: int = IOAPIC_ENABLED) -> bytes:
    """An 8-byte I/O APIC entry."""
    return struct.pack("<BBBBI", IOAPIC, ioapic_id, 0x11, flags, address)


def config_table(lapic_base: int, *entries: bytes, count: int | None = None) -> bytes:
    """A base configuration table with these entries, its length and
    checksum right (``count``: the entry count to claim; default the true one)."""
    body = b"".join(entries)
    header = struct.pack("<4sHBB8s12sIHHIHBx", CONFIG_SIGNATURE, CONFIG_HEADER_SIZE + len(body),
                         4, 0, b"OEM00000", b"PRODUCT00000", 0, 0,
                         len(entries) if count is None else count, lapic_base, 0, 0)
    return fix_checksum(header + body)
