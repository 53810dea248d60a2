"""Malformed or hostile ACPI tables are refused whole: the harness stops a
cold-booted kernel at numa_init, patches the table in guest RAM (fixing the
checksum up where the test is about something else), and lets it go on.
Exactly one NUMA error record names the kind and the table, the kernel runs
as one node, and the machine works."""

import struct

import pytest

from harness.decode import acpi
from harness.targets.mmverify.kernel import Kernel
from tests.numa.numa_view import Table, acpi_tables, frame_nodes, node_stats, rsdp_address

MIB = 1 << 20
DISTANCES = [[10, 21], [21, 10]]


def tables_and_rsdp(m) -> dict[str, Table]:
    """acpi_tables, and the RSDP's 20 bytes under "RSDP"."""
    rsdp = rsdp_address(m)
    return acpi_tables(m) | {"RSDP": Table(rsdp, m.read_phys(rsdp, acpi.RSDP_SIZE))}


def usable_entries(table: bytes) -> list[acpi.SratMemory]:
    return sorted((m for m in acpi.parse_srat(table)[1] if m.usable), key=lambda m: m.base)


def bad_checksum(tables):
    srat = tables["SRAT"]
    data = bytearray(srat.data)
    data[acpi.CHECKSUM_OFFSET] ^= 0x5A
    return srat.addr, bytes(data)


def with_entry(tables, which, base, length):
    """The SRAT with its usable memory entry number ``which`` (in address
    order) moved to [base, base + length), checksum fixed up."""
    srat = tables["SRAT"]
    entry = usable_entries(srat.data)[which]
    data = bytearray(srat.data)
    data[entry.offset:entry.offset + acpi.SRAT_MEMORY_SIZE] = acpi.memory_entry(
        entry.pxm, base, length, entry.flags)
    return srat.addr, acpi.fix_checksum(bytes(data))


def overlapping(tables):
    last = usable_entries(tables["SRAT"].data)[-1]  # node 1's: [48 MiB, 64 MiB)
    return with_entry(tables, -1, last.base - MIB, last.length + MIB)


def past_the_memory_map(tables):
    last = usable_entries(tables["SRAT"].data)[-1]
    return with_entry(tables, -1, last.base, last.length + 64 * MIB)


def zero_length_entry(tables):
    srat = tables["SRAT"]
    data = bytearray(srat.data)
    data[acpi.SRAT_HEADER_SIZE + 1] = 0  # the first entry's length
    return srat.addr, acpi.fix_checksum(bytes(data))


def range_in_a_hole(tables):
    """Node 1's range moved into the VGA hole [640 KiB, 1 MiB): below the
    top of the memory map, but in no region of it."""
    return with_entry(tables, -1, 0xA0000, 0x10000)


def with_length(table: Table, length: int, keep: int | None = None) -> tuple[int, bytes]:
    """``table`` claiming ``length`` bytes, its checksum fixed up over its
    first ``keep`` bytes (default: all it has)."""
    data = bytearray(table.data)
    struct.pack_into("<I", data, 4, length)
    keep = len(data) if keep is None else keep
    return table.addr, acpi.fix_checksum(bytes(data[:keep]))


def srat_overlong(tables):
    return with_length(tables["SRAT"], 0xFFFFFFF0)  # would wrap a 32-bit end


def srat_truncated(tables):
    return with_length(tables["SRAT"], acpi.SRAT_HEADER_SIZE - 8, acpi.SRAT_HEADER_SIZE - 8)


def rsdt_bad_checksum(tables):
    rsdt = tables["RSDT"]
    data = bytearray(rsdt.data)
    data[acpi.CHECKSUM_OFFSET] ^= 0x5A
    return rsdt.addr, bytes(data)


def rsdt_truncated(tables):
    return with_length(tables["RSDT"], acpi.HEADER_SIZE - 16)


def rsdt_in_a_hole(tables):
    """The RSDP names an RSDT in the VGA hole (checksum fixed up)."""
    rsdp = bytearray(tables["RSDP"].data)
    struct.pack_into("<I", rsdp, 16, 0xA0000)
    rsdp[8] = 0
    rsdp[8] = -sum(rsdp[:acpi.RSDP_SIZE]) & 0xFF
    return tables["RSDP"].addr, bytes(rsdp)


def srat_domain(tables, which, pxm):
    """The SRAT with usable memory entry ``which`` moved to domain ``pxm``."""
    entry = usable_entries(tables["SRAT"].data)[which]
    data = bytearray(tables["SRAT"].data)
    struct.pack_into("<I", data, entry.offset + 2, pxm)
    return tables["SRAT"].addr, acpi.fix_checksum(bytes(data))


def slit_missing_domain(tables):
    return srat_domain(tables, -1, 5)  # the SLIT has domains 0 and 1 only


def slit_bad_diagonal(tables):
    slit = tables["SLIT"]
    data = bytearray(slit.data)
    data[acpi.SLIT_HEADER_SIZE] = 20  # node 0 to itself
    return slit.addr, acpi.fix_checksum(bytes(data))


def slit_short(tables):
    slit = tables["SLIT"]
    data = bytearray(slit.data)
    struct.pack_into("<I", data, 4, len(data) - 1)  # one distance missing
    return slit.addr, acpi.fix_checksum(bytes(data[:-1]))  # the checksum over what is left


@pytest.mark.parametrize(("patch", "kind", "table"), [
    (bad_checksum, "checksum", "SRAT"),
    (overlapping, "overlap", "SRAT"),
    (past_the_memory_map, "past-memory", "SRAT"),
    (zero_length_entry, "bad-entry", "SRAT"),
    (slit_bad_diagonal, "bad-distance", "SLIT"),
    (slit_short, "bad-length", "SLIT"),
    (range_in_a_hole, "past-memory", "SRAT"),
    (srat_overlong, "overlong", "SRAT"),
    (srat_truncated, "truncated", "SRAT"),
    (rsdt_bad_checksum, "checksum", "RSDT"),
    (rsdt_truncated, "truncated", "RSDT"),
    (rsdt_in_a_hole, "past-memory", "RSDT"),
    (slit_missing_domain, "missing-domain", "SLIT"),
])
def test_a_hostile_table_is_refused_whole(boot, patch, kind, table):
    m = boot(numa=[48, 16], numa_distances=DISTANCES)
    m.run_to("numa_init")
    addr, data = patch(tables_and_rsdp(m))
    m.write_phys(addr, data)
    assert m.read_phys(addr, len(data)) == data
    m.run_to("kernel_ready")
    assert [r.fields for r in m.records("NUMA")] == [
        {"error": kind, "table": table}, {"nodes": "1", "ranges": "0", "slit": "0"}]
    kernel = Kernel(m)
    assert kernel.u32("pmm_node_count") == 1
    assert set(frame_nodes(kernel)) == {0}
    assert len(node_stats(kernel)) == 1
    # The machine works: a user frame comes and goes back.
    free = kernel.pmm_stats()["free_frames"]
    pfn = m.call("pmm_alloc_user_frame")
    assert pfn and kernel.pmm_stats()["free_frames"] == free - 1
    m.call("pmm_free_frame", pfn)
    assert kernel.pmm_stats()["free_frames"] == free


def test_the_unpatched_tables_are_accepted(boot):
    """The same cold boot, stopped and let go without a patch: two nodes."""
    m = boot(numa=[48, 16], numa_distances=DISTANCES)
    m.run_to("numa_init")
    m.run_to("kernel_ready")
    assert not [r for r in m.records("NUMA") if "error" in r.fields]
    assert [r.fields for r in m.records("NUMA") if "nodes" in r.fields] == [
        {"nodes": "2", "ranges": "3", "slit": "1"}]


def test_an_rsdp_with_a_bad_checksum_is_no_rsdp(boot):
    """The kernel passes over a signature whose checksum fails (code may
    hold one as a constant): no RSDP, no tables, one node, nothing wrong."""
    m = boot(numa=[48, 16], numa_distances=DISTANCES)
    m.run_to("numa_init")
    rsdp = rsdp_address(m)
    m.write_phys(rsdp + 8, bytes([m.read_phys(rsdp + 8, 1)[0] ^ 0x5A]))  # its checksum byte
    m.run_to("kernel_ready")
    assert [r.fields for r in m.records("NUMA")] == [{"nodes": "1", "ranges": "0", "slit": "0"}]
    assert Kernel(m).u32("pmm_node_count") == 1


def test_a_hot_pluggable_range_is_not_ram_now(boot):
    """Node 1's range flagged hot-pluggable is passed over: node 0 alone has
    memory, so one node with node 0's two ranges, and no error."""
    m = boot(numa=[48, 16], numa_distances=DISTANCES)
    m.run_to("numa_init")
    tables = acpi_tables(m)
    last = usable_entries(tables["SRAT"].data)[-1]
    addr, data = with_entry(tables, -1, last.base, last.length)
    data = bytearray(data)
    data[last.offset + 28] |= acpi.HOTPLUG
    m.write_phys(addr, acpi.fix_checksum(bytes(data)))
    m.run_to("kernel_ready")
    assert [r.fields for r in m.records("NUMA") if "node" not in r.fields] == [
        {"nodes": "1", "ranges": "2", "slit": "1"}]
    kernel = Kernel(m)
    assert kernel.u32("pmm_node_count") == 1
    assert set(frame_nodes(kernel)) == {0}


def test_nine_proximity_domains_are_too_many_nodes(boot):
    """Eight 8 MiB nodes (nine usable ranges: node 0 has two, around the
    640 KiB hole) with node 0's upper range moved to a ninth domain: more
    nodes than NUMA_MAX_NODES, refused whole."""
    m = boot(numa=[8] * 8)
    m.run_to("numa_init")
    tables = acpi_tables(m)
    assert len({e.pxm for e in usable_entries(tables["SRAT"].data)}) == 8
    addr, data = srat_domain(tables, 1, 8)
    m.write_phys(addr, data)
    m.run_to("kernel_ready")
    assert [r.fields for r in m.records("NUMA")] == [
        {"error": "too-many-nodes", "table": "SRAT"}, {"nodes": "1", "ranges": "0", "slit": "0"}]
    assert Kernel(m).u32("pmm_node_count") == 1


def test_the_tables_are_read_through_read_only_windows(boot):
    """Every kmap window ACPI's reads open while numa_init runs maps its
    page without the write bit (the firmware's tables are never written)."""
    m = boot(numa=[48, 16], numa_distances=DISTANCES)
    m.run_to("numa_init")
    m.break_at("kunmap")
    windows = []
    for _ in range(8):
        m.cont()
        va = int(m.evaluate("(unsigned)ptr"), 0) & ~0xFFF
        walk = m.translate(va)
        assert walk.pa is not None
        windows.append(walk.write)
    assert windows == [False] * 8
    m.delete_breakpoints()


def test_a_cpu_finds_its_node_by_all_four_bytes_of_its_domain(boot):
    """A processor entry splits its proximity domain: byte 2 low, bytes 9-11
    high.  Node 1's memory and the CPU moved to domain 0x01000001: the CPU
    must land in node 1, whose record says so; a domain read short of its
    top byte matches no node, and the CPU would fall to node 0."""
    m = boot(numa=[48, 16])  # no SLIT: it would have no row for such a domain
    m.run_to("numa_init")
    tables = acpi_tables(m)
    pxm = 0x01000001
    addr, data = srat_domain(tables, -1, pxm)
    data = bytearray(data)
    [cpu], _ = acpi.parse_srat(bytes(data))
    data[cpu.offset + 2] = pxm & 0xFF
    data[cpu.offset + 9:cpu.offset + 12] = (pxm >> 8).to_bytes(3, "little")
    assert acpi.parse_srat(bytes(data))[0][0].pxm == pxm
    m.write_phys(addr, acpi.fix_checksum(bytes(data)))
    m.run_to("kernel_ready")
    nodes = [(r.int("node"), r.int("pxm"), r["cpus"]) for r in m.records("NUMA")
             if "node" in r.fields]
    assert nodes == [(0, 0, "0x0"), (1, pxm, "0x1")]
