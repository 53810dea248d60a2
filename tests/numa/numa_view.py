"""What the tests know about a NUMA machine, read from outside: the ACPI
tables in guest RAM (decoded by harness.decode.acpi), the kernel's per-node
statistics and frame table, and which node each frame of a process lies on."""

from __future__ import annotations

from dataclasses import dataclass

from harness.decode import acpi
from harness.targets.mmverify.kernel import Kernel

EBDA_SEGMENT_PTR = 0x40E
BIOS_AREA = (0xE0000, 0x100000)


@dataclass(frozen=True)
class Table:
    addr: int
    data: bytes


def rsdp_address(machine) -> int:
    ebda = int.from_bytes(machine.read_phys(EBDA_SEGMENT_PTR, 2), "little") << 4
    if 0x400 <= ebda < BIOS_AREA[1]:
        found = acpi.find_rsdp(machine.read_phys(ebda, 1024), ebda)
        if found is not None:
            return found
    start, end = BIOS_AREA
    found = acpi.find_rsdp(machine.read_phys(start, end - start), start)
    assert found is not None, "QEMU's firmware left no valid RSDP"
    return found


def acpi_tables(machine) -> dict[str, Table]:
    """Every table the RSDT lists (and the RSDT), by signature."""
    rsdt_pa = acpi.rsdt_address(machine.read_phys(rsdp_address(machine), acpi.RSDP_SIZE))
    rsdt = machine.read_phys(rsdt_pa, acpi.table_length(machine.read_phys(rsdt_pa, 36)))
    tables = {"RSDT": Table(rsdt_pa, rsdt)}
    for pa in acpi.rsdt_entries(rsdt):
        header = machine.read_phys(pa, acpi.HEADER_SIZE)
        tables[acpi.signature(header)] = Table(pa, machine.read_phys(pa, acpi.table_length(header)))
    return tables


def srat_nodes(machine) -> list[acpi.Node]:
    """The nodes the SRAT in guest RAM describes, numbered as the kernel must."""
    return acpi.nodes_from_srat(*acpi.parse_srat(acpi_tables(machine)["SRAT"].data))


def node_stats(kernel: Kernel) -> list[dict[str, int]]:
    """pmm_node_stats[0 .. pmm_node_count - 1] as the kernel has them."""
    count = kernel.u32("pmm_node_count")
    return kernel.read_array("pmm_node_stats", kernel.m.symbol("pmm_node_stats"), count)


def frame_nodes(kernel: Kernel) -> list[int]:
    """frame_table[pfn].node for every frame the table covers."""
    table = kernel.frame_table()
    return [table[pfn].node for pfn in range(table.count)]


def user_frames(userland, pid: int, start: int, pages: int) -> list[int]:
    """The physical address of each page of [start, start + pages * 4 KiB) in
    process pid's page tables (the harness's walk), in address order."""
    aspace = userland.address_space(pid)
    found = [aspace.translate(start + i * 4096).pa for i in range(pages)]
    assert None not in found, f"pages of pid {pid} not mapped: {found}"
    return found


def mempolicy(kernel: Kernel, pid: int) -> tuple[int, int, int]:
    """(mode, nodes, next) of process pid's struct numa_policy (its mm.mempolicy), from
    proc_table."""
    layout = kernel.layout("process")
    at = int(kernel.m.evaluate("(int)&((struct process *)0)->mm.mempolicy"), 0)
    count = kernel.sizeof("proc_table") // layout.size
    data = kernel.read_kernel(kernel.m.symbol("proc_table"), layout.size * count)
    for i in range(count):
        raw = data[i * layout.size:(i + 1) * layout.size]
        p = layout.decode(raw)
        if p["state"] != 0 and p["pid"] == pid:
            return raw[at], raw[at + 1], raw[at + 2]
    raise LookupError(f"no live process {pid}")


def user_pages(userland, pid: int, kernel_base: int) -> list[tuple[int, int]]:
    """(va, pa) of every user page mapped in process pid (the host's walk)."""
    return [(m.va, m.pa) for m in userland.address_space(pid).mappings(0, kernel_base)
            if m.user]


def kernel_distances(kernel: Kernel) -> list[list[int]]:
    """numa_layout.distance for the kernel's nodes."""
    count = kernel.u32("pmm_node_count")
    at = kernel.m.symbol("numa_layout") + int(
        kernel.m.evaluate("(int)&((struct numa_layout *)0)->distance"), 0)
    width = int(kernel.m.evaluate("sizeof(numa_layout.distance[0])"), 0)
    raw = kernel.read_kernel(at, width * width)
    return [list(raw[i * width:i * width + count]) for i in range(count)]
