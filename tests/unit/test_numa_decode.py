"""The harness's ACPI decoders (SRAT, SLIT, RSDP, RSDT) and QEMU's `info
numa` parser, on tables built here byte by byte (no QEMU)."""

import struct

import pytest

from harness.decode import acpi
from harness.decode.qemunuma import QemuNode, node_ranges, parse_info_numa

MIB = 1 << 20


def header(sig: bytes, length: int) -> bytes:
    return struct.pack("<4sIBB6s8sIII", sig, length, 1, 0, b"OEMID ", b"TABLEID ", 1, 0, 1)


def table(sig: bytes, body: bytes, pad: int = 0) -> bytes:
    """A table with a correct length and checksum (pad: reserved bytes after the header)."""
    raw = header(sig, acpi.HEADER_SIZE + pad + len(body)) + bytes(pad) + body
    return acpi.fix_checksum(raw)


def cpu_entry(pxm: int, apic: int, flags: int = acpi.ENABLED) -> bytes:
    return struct.pack("<BBBBIB3sI", 0, 16, pxm & 0xFF, apic, flags, 0,
                       (pxm >> 8).to_bytes(3, "little"), 0)


def srat(*entries: bytes) -> bytes:
    return table(b"SRAT", b"".join(entries), pad=12)


def test_checksums_and_their_fix():
    t = srat(acpi.memory_entry(0, 0, 64 * MIB))
    assert acpi.checksum_ok(t)
    broken = bytearray(t)
    broken[acpi.CHECKSUM_OFFSET] ^= 1
    assert not acpi.checksum_ok(broken)
    assert acpi.fix_checksum(bytes(broken)) == t


def test_srat_entries_are_decoded_field_by_field():
    t = srat(cpu_entry(0x123456, 3), acpi.memory_entry(7, 0x100000, 0x2F00000, 0x3),
             b"\x02\x08" + bytes(6))  # an entry type the decoder skips
    cpus, memory = acpi.parse_srat(t)
    assert cpus == [acpi.SratCpu(0x123456, 3, 1, 48)]
    assert memory == [acpi.SratMemory(7, 0x100000, 0x2F00000, 3, 64)]
    assert not memory[0].usable, "hot-pluggable memory is not RAM there now"
    assert memory[0].end == 0x3000000


def test_a_malformed_entry_is_an_error():
    t = bytearray(srat(acpi.memory_entry(0, 0, MIB)))
    t[acpi.SRAT_HEADER_SIZE + 1] = 0
    with pytest.raises(ValueError, match="malformed"):
        acpi.parse_srat(bytes(t))


def test_nodes_are_numbered_by_their_lowest_address():
    """Domain 5 holds the lowest memory, so it is node 0; a domain with CPUs
    but no memory gives its CPUs to node 0; disabled, hot-pluggable and empty
    entries make no ranges."""
    t = srat(cpu_entry(9, 0), cpu_entry(2, 1), cpu_entry(5, 2), cpu_entry(2, 4, flags=0),
             acpi.memory_entry(2, 32 * MIB, 32 * MIB),
             acpi.memory_entry(5, 0, 0xA0000),
             acpi.memory_entry(5, MIB, 31 * MIB),
             acpi.memory_entry(2, 64 * MIB, MIB, flags=0),
             acpi.memory_entry(2, 64 * MIB, MIB, flags=acpi.ENABLED | acpi.HOTPLUG),
             acpi.memory_entry(0, 0, 0))
    nodes = acpi.nodes_from_srat(*acpi.parse_srat(t))
    assert nodes == [
        acpi.Node(0, 5, ((0, 0xA0000), (MIB, 32 * MIB)), cpus=0b101),
        acpi.Node(1, 2, ((32 * MIB, 64 * MIB),), cpus=0b10),
    ]
    assert nodes[0].frames == 0xA0 + 31 * 256
    assert (nodes[0].base, nodes[0].end) == (0, 32 * MIB)
    assert [acpi.node_of(nodes, a) for a in (0, 0xA0000, MIB, 32 * MIB - 1, 32 * MIB, 64 * MIB)] \
        == [0, None, 0, 0, 1, None]


def test_slit_matrix():
    rows = [[10, 21, 31], [21, 10, 15], [31, 15, 10]]
    t = table(b"SLIT", struct.pack("<Q", 3) + bytes(d for row in rows for d in row))
    assert acpi.parse_slit(t) == rows


def test_rsdp_is_found_on_a_16_byte_boundary_with_a_good_checksum():
    rsdp = bytearray(b"RSD PTR " + bytes([0]) + b"BOCHS " + bytes([0]) +
                     struct.pack("<I", 0x7FE1234))
    rsdp[8] = -sum(rsdp) & 0xFF
    area = bytearray(0x400)
    area[0x20:0x28] = b"RSD PTR "           # a stray signature (bad checksum)
    area[0x108:0x108 + 20] = rsdp           # not on a 16-byte boundary
    area[0x230:0x230 + 20] = rsdp
    assert acpi.find_rsdp(bytes(area), 0xE0000) == 0xE0230
    assert acpi.rsdt_address(bytes(rsdp)) == 0x7FE1234
    assert acpi.find_rsdp(bytes(0x400), 0xE0000) is None


def test_rsdt_lists_addresses():
    t = table(b"RSDT", struct.pack("<3I", 0xD1000, 0xD1100, 0x7FE0000))
    assert acpi.signature(t) == "RSDT"
    assert acpi.table_length(t) == 36 + 12
    assert acpi.rsdt_entries(t) == [0xD1000, 0xD1100, 0x7FE0000]


INFO_NUMA = """2 nodes
node 0 cpus: 0
node 0 size: 48 MB
node 0 plugged: 0 MB
node 1 cpus:
node 1 size: 16 MB
node 1 plugged: 0 MB
"""


def test_info_numa():
    assert parse_info_numa(INFO_NUMA) == [QemuNode(0, (0,), 48), QemuNode(1, (), 16)]
    assert parse_info_numa("0 nodes\n") == []
    with pytest.raises(ValueError, match="node count"):
        parse_info_numa("")
    with pytest.raises(ValueError, match="node 1"):
        parse_info_numa(INFO_NUMA.replace("node 1 size: 16 MB\n", ""))


GIB = 1 << 30


@pytest.mark.parametrize(("sizes", "ranges"), [
    ([48, 16], [[(0, 48 * MIB)], [(48 * MIB, 64 * MIB)]]),
    ([3072, 1024], [[(0, 3 * GIB)], [(4 * GIB, 5 * GIB)]]),
    # 3.5 GiB: split at 3 GiB, inside node 1, which gets both sides of the hole
    ([2048, 1536], [[(0, 2 * GIB)], [(2 * GIB, 3 * GIB), (4 * GIB, 4 * GIB + 512 * MIB)]]),
    # just under 3.5 GiB: no split at all
    ([2048, 1535], [[(0, 2 * GIB)], [(2 * GIB, 3583 * MIB)]]),
])
def test_node_ranges_lay_nodes_one_after_another_then_split(sizes, ranges):
    assert node_ranges(sizes) == ranges
