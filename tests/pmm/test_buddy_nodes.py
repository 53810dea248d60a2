"""pmm_set_nodes on a one-node machine, called as numa_init calls it after
reading an SRAT: the zones are re-partitioned by node, the frame table says
each frame's node, the buddy maps are rebuilt so no block crosses the node
boundary (the audit after the test checks every map against the zones),
the per-node numbers are exact, block requests take node 0's zone first,
and pmm_alloc_user_frame_node takes from its node only.

The boundary is deliberately not aligned to any large block: node 1 starts
16 frames past 64 MiB, so a block of order 5 or more there would cross it."""

import struct

import pytest

from harness.targets.mmverify.kernel import Kernel
from harness.targets.mmverify.pmm_audit import buddy_audit, buddy_model, read_buddy

FRAME = 4096
BOUNDARY = 0x4010          # node 1's first frame
TOP = 0x8000               # 128 MiB


def set_nodes(machine, kernel: Kernel, ranges: list[tuple[int, int, int]], nodes: int) -> None:
    layout = kernel.layout("numa_range")
    buf = machine.call("kmalloc", layout.size * len(ranges))
    off = layout.fields
    for i, (base, end, node) in enumerate(ranges):
        item = bytearray(layout.size)
        struct.pack_into("<Q", item, off["base"].offset, base * FRAME)
        struct.pack_into("<Q", item, off["end"].offset, end * FRAME)
        struct.pack_into("<I", item, off["node"].offset, node)
        machine.write(buf + i * layout.size, bytes(item))
    machine.call("pmm_set_nodes", buf, len(ranges), nodes)
    machine.call("kfree", buf)


def node_stats(kernel: Kernel) -> list[dict]:
    return read_buddy(kernel).node_stats


def assert_maps(kernel: Kernel, model) -> None:
    """Every order's map, the front and the own block are what the model's bitmap implies."""
    s = read_buddy(kernel)
    ex = model.exempt()
    assert (s.hint, s.hint_order, s.front_mask) == (ex.hint, ex.hint_order, ex.front_mask), \
        f"hint word, own block and front: the model says cap {ex.cap}"
    for k, (om, want) in enumerate(zip(s.maps, model.maps(), strict=True)):
        assert om.map == want, f"map {k}: bits {om.map ^ want:#x} differ"


@pytest.mark.machine(memory="128M")
def test_two_nodes_partition_the_frames_and_the_maps(machine, kernel):
    set_nodes(machine, kernel, [(0, BOUNDARY, 0), (BOUNDARY, TOP, 1)], 2)
    assert kernel.u32("pmm_node_count") == 2
    table = kernel.frame_table()
    assert {table[f].node for f in range(BOUNDARY)} == {0}
    assert {table[f].node for f in range(BOUNDARY, TOP)} == {1}
    used, _ = kernel.pmm_bitmaps()
    stats = node_stats(kernel)
    free = [sum(1 for f in range(a, b) if not used[f]) for a, b in ((0, BOUNDARY), (BOUNDARY, TOP))]
    assert [(s["start"], s["end"], s["frames"], s["free_frames"]) for s in stats] == [
        (0, BOUNDARY, BOUNDARY, free[0]), (BOUNDARY, TOP, TOP - BOUNDARY, free[1])]
    model = buddy_model(kernel)
    assert model.zones.runs == ((0, 0), (BOUNDARY, 2))
    # Node 1's first blocks: 16 frames at the boundary, then aligned 1024-frame blocks.
    assert BOUNDARY in model.heads(4), "node 1 (zone 2) starts with a 16-frame block"
    assert_maps(kernel, model)
    assert buddy_audit(kernel) == []


@pytest.mark.machine(memory="128M")
def test_block_requests_take_node_0s_zone_first_then_node_1s(machine, kernel):
    """Every address predicted: node 0's blocks of each order before any of
    node 1's, and the 16-frame block at the boundary stays node 1's."""
    set_nodes(machine, kernel, [(0, BOUNDARY, 0), (BOUNDARY, TOP, 1)], 2)
    model = buddy_model(kernel)
    got = []
    for order in [9, 9, 4] + [10] * 18 + [4, 4]:
        expected = model.allocate_block(order)
        assert machine.call("allocate_block", order) == (expected or 0) * FRAME, order
        got.append(expected)
    assert min(got[3:]) < BOUNDARY <= max(got[3:]), "node 0's order-10 blocks ran out first"
    assert_maps(kernel, model)
    stats = node_stats(kernel)
    used, _ = kernel.pmm_bitmaps()
    assert [s["free_frames"] for s in stats] == [
        sum(1 for f in range(a, b) if not used[f]) for a, b in ((0, BOUNDARY), (BOUNDARY, TOP))]


@pytest.mark.machine(memory="128M")
def test_a_node_boundary_inside_the_hint_word_leaves_it_no_front(machine, kernel):
    """Node 1 starts in the middle of the hint word: no whole-word block
    holds that word (its cap is 4), so it has no front and no own block,
    and frees and requests around it still leave exactly the bitmap's
    blocks in the maps (the zones cut every merge across the boundary)."""
    # set_nodes' kmalloc may take a frame for a new slab, which can fill the
    # hint word: take it first, so the boundary lands in the word that is
    # still the hint when the nodes are set (else the premise hangs on how
    # many frames the boot left free in that word).
    machine.call("kfree", machine.call("kmalloc", kernel.layout("numa_range").size * 2))
    hint = kernel.pmm_hint()
    boundary = hint * 32 + 16
    set_nodes(machine, kernel, [(0, boundary, 0), (boundary, TOP, 1)], 2)
    model = buddy_model(kernel)
    assert model.exempt().cap == 4 and model.exempt().front_mask == 0
    assert_maps(kernel, model)
    held = []
    for order in (0, 5, 3, 0, 4, 6):
        pfn = model.allocate_block(order)
        assert machine.call("allocate_block", order) == pfn * FRAME, order
        held.append((pfn, order))
        assert_maps(kernel, model)
    for _ in range(3):
        pfn = model.allocate_page()
        assert machine.call("allocate_page") == pfn * FRAME
        held.append((pfn, 0))
        assert_maps(kernel, model)
    for pfn, order in reversed(held):
        assert model.free_block(pfn, order) == [True] * (1 << order)
        machine.call("free_block", pfn * FRAME, order)
        assert_maps(kernel, model)
    assert buddy_audit(kernel) == []


@pytest.mark.machine(memory="128M")
def test_user_frames_come_from_the_node_asked_for(machine, kernel):
    set_nodes(machine, kernel, [(0, BOUNDARY, 0), (BOUNDARY, TOP, 1)], 2)
    used, _ = kernel.pmm_bitmaps()
    assert machine.call("pmm_alloc_user_frame_node", 1) == used.first_clear(BOUNDARY)
    assert machine.call("pmm_alloc_user_frame_node", 1) == used.first_clear(BOUNDARY) + 1
    assert machine.call("pmm_alloc_user_frame_node", 0) == used.first_clear()
    stats = node_stats(kernel)
    assert [s["allocations"] for s in stats] == [1, 2]
    assert [s["fallbacks"] for s in stats] == [0, 0], "the PMM never counts fallbacks"


@pytest.mark.machine(memory="128M")
def test_a_full_node_gives_nothing_and_leaves_the_other_alone(machine, kernel):
    """Node 1 is 200 frames; the frames after it are in no range: node 0's."""
    set_nodes(machine, kernel, [(0, BOUNDARY, 0), (BOUNDARY, BOUNDARY + 200, 1)], 2)
    table = kernel.frame_table()
    assert {table[f].node for f in range(BOUNDARY + 200, TOP)} == {0}
    before = kernel.pmm_stats()
    got = []
    while frame := machine.call("pmm_alloc_user_frame_node", 1):
        got.append(frame)
    assert len(got) == node_stats(kernel)[1]["allocations"] == before["free_frames"] \
        - kernel.pmm_stats()["free_frames"]
    assert got == list(range(BOUNDARY, BOUNDARY + 200)), "node 1's frames, lowest first"
    assert node_stats(kernel)[1]["free_frames"] == 0
    assert kernel.pmm_stats()["failed_allocations"] == before["failed_allocations"] + 1
    assert machine.call("pmm_alloc_user_frame_node", 0) < BOUNDARY
    for f in got:
        machine.call("pmm_free_frame", f)
    assert kernel.pmm_stats()["free_frames"] == before["free_frames"] - 1
