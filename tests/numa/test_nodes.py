"""The kernel's NUMA nodes equal what QEMU was told (`info numa`) and what
its SRAT says (decoded on the host from guest RAM), node by node and frame
by frame; without -numa the kernel has one node and says nothing wrong."""

import pytest

from harness.decode import acpi
from harness.decode.qemunuma import node_ranges
from tests.numa.numa_view import (
    acpi_tables,
    frame_nodes,
    kernel_distances,
    node_stats,
    srat_nodes,
)

MIB = 1 << 20
FRAME = 4096


def check_nodes(machine, kernel, sizes_mib):
    qemu = machine.numa_info()
    assert [n.mib for n in qemu] == sizes_mib
    assert qemu[0].cpus == (0,)
    nodes = srat_nodes(machine)
    assert len(nodes) == len(sizes_mib)
    # QEMU lays the nodes one after another (then splits RAM at the hole).
    for node, ranges in zip(nodes, node_ranges(sizes_mib), strict=True):
        assert (node.base, node.end) == (ranges[0][0], ranges[-1][1])
        assert node.cpus == (1 if node.node == 0 else 0)
    stats = node_stats(kernel)
    assert [(s["start"], s["end"], s["frames"]) for s in stats] == \
        [(n.base // FRAME, n.end // FRAME, n.frames) for n in nodes]
    records = [r for r in machine.records("NUMA") if "node" in r.fields]
    assert [(r.int("node"), r.int("pxm"), r.int("base"), r.int("end"), r.int("frames"),
             r.int("cpus")) for r in records] == \
        [(n.node, n.pxm, n.base, n.end, n.frames, n.cpus) for n in nodes]
    summary = [r for r in machine.records("NUMA") if "nodes" in r.fields]
    slit = "SLIT" in acpi_tables(machine)
    assert [(r.int("nodes"), r.int("ranges"), r.int("slit")) for r in summary] == \
        [(len(nodes), sum(len(n.ranges) for n in nodes), int(slit))]
    on = frame_nodes(kernel)
    pmm = kernel.pmm_stats()
    for pfn in range(pmm["frame_count"]):
        assert on[pfn] == (acpi.node_of(nodes, pfn * FRAME) or 0), f"frame {pfn:#x}"
    # Every free frame is counted on its node.
    used, _reserved = kernel.pmm_bitmaps()
    free = [0] * len(nodes)
    for pfn in range(pmm["frame_count"]):
        if not used[pfn]:
            free[on[pfn]] += 1
    assert [s["free_frames"] for s in stats] == free
    assert sum(free) == pmm["free_frames"]


@pytest.mark.machine(numa=[48, 16])
def test_two_unequal_nodes(machine, kernel):
    check_nodes(machine, kernel, [48, 16])


@pytest.mark.machine(numa=[32, 16, 8, 8])
def test_four_unequal_nodes(machine, kernel):
    check_nodes(machine, kernel, [32, 16, 8, 8])


@pytest.mark.machine(memory="64M")
def test_without_numa_one_node_and_no_error(machine, kernel):
    assert machine.numa_info() == []
    assert "SRAT" not in acpi_tables(machine)
    assert [r.fields for r in machine.records("NUMA")] == \
        [{"nodes": "1", "ranges": "0", "slit": "0"}]
    assert kernel.u32("pmm_node_count") == 1
    assert set(frame_nodes(kernel)) == {0}


# Asymmetric (ACPI allows it), so a row read as a column shows.
DISTANCES = [[10, 40, 15, 30],
             [41, 10, 35, 20],
             [16, 36, 10, 25],
             [31, 21, 26, 10]]


@pytest.mark.machine(numa=[16, 16, 16, 16], numa_distances=DISTANCES)
def test_distances_come_from_the_slit(machine, kernel):
    tables = acpi_tables(machine)
    assert acpi.parse_slit(tables["SLIT"].data) == DISTANCES
    assert kernel_distances(kernel) == DISTANCES
    [summary] = [r for r in machine.records("NUMA") if "nodes" in r.fields]
    assert summary.int("slit") == 1


@pytest.mark.machine(numa=[48, 16])
def test_without_a_slit_remote_nodes_are_20_away(machine, kernel):
    assert "SLIT" not in acpi_tables(machine)  # QEMU builds one only with -numa dist
    assert kernel_distances(kernel) == [[10, 20], [20, 10]]
