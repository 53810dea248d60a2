"""The PMM audit (harness/targets/mmverify/pmm_audit.py) on synthetic
states, no QEMU: a state built exactly as the contract says passes, and
each kind of corruption is named (the frame, the order, what the bitmap
says); and it stays fast at 4 GiB (2^20 frames)."""

import dataclasses
import time

import pytest

from harness.decode.buddy import (
    FRAME_CONTIG,
    ORDERS,
    WORD,
    OrderMap,
    Zones,
    exempt_of,
    expected_maps,
    front_head,
    maximal_blocks,
    summary_levels,
)
from harness.targets.mmverify.pmm_audit import BuddyState, check

FRAMES = 4096


def free_range(first: int, end: int) -> int:
    return ((1 << (end - first)) - 1) << first


def order_map(value: int, k: int, frames: int) -> OrderMap:
    bits = frames if k < 5 else -(-frames >> k)
    levels = summary_levels(value, -(-bits // WORD))
    return OrderMap(tuple(v for v, _ in levels), tuple(w for _, w in levels))


def state(free: int, frames: int = FRAMES, nodes: bytes | None = None, node_count: int = 1,
          reserved: int = 0, flags: bytes | None = None) -> BuddyState:
    """A state exactly as the contract says, for this bitmap."""
    nodes = nodes if nodes is not None else bytes(frames)
    zones = Zones.from_nodes(nodes, frames)
    free &= free_range(0, frames)
    blocks = maximal_blocks(free, zones)
    hint = (free & -free).bit_length() - 1 >> 5 if free else 0xFFFFFFFF
    ex = exempt_of(blocks, zones, hint)
    maps = [order_map(v, k, frames) for k, v in enumerate(expected_maps(blocks, ex, frames))]
    per_node = [(free & sum(1 << f for f in range(frames) if nodes[f] == n)).bit_count()
                for n in range(node_count)] if node_count > 1 else [0]
    return BuddyState(frames, ~free & free_range(0, frames), reserved, frames, nodes,
                      flags if flags is not None else bytes(frames), maps, [], hint,
                      ex.front_mask, ex.hint_order, free.bit_count(), node_count,
                      [{"free_frames": c} for c in per_node],
                      {"failures": [0] * ORDERS, "repairs": 0})


def with_map(s: BuddyState, k: int, value: int) -> BuddyState:
    maps = list(s.maps)
    maps[k] = order_map(value, k, s.frames)  # summaries kept exact: only the map is wrong
    return dataclasses.replace(s, maps=maps)


# Frames 0..99 used (the kernel), the rest free but 700 and 2050..2052.
FREE = free_range(100, FRAMES) & ~(1 << 700) & ~free_range(2050, 2053)


def test_a_correct_state_passes():
    s = state(FREE)
    assert (s.hint, s.hint_order, s.front_mask) == (3, 0, (1 << 7) | (1 << 8)), \
        "B_9 holds frame 700"
    assert check(s) == []


def test_a_correct_state_with_an_empty_hint_word_and_two_nodes_passes():
    nodes = bytes(1000) + bytes([1]) * (FRAMES - 1000)
    s = state(free_range(128, FRAMES), nodes=nodes, node_count=2)
    assert (s.hint, s.hint_order) == (4, 7)
    assert [n["free_frames"] for n in s.node_stats] == [1000 - 128, FRAMES - 1000]
    assert check(s) == []


def test_a_missing_map_bit_is_named():
    s = state(FREE)
    s = with_map(s, 3, s.maps[3].map & ~(1 << 688))
    assert check(s) == ["map 3 bit 0x2b0 (frame 0x2b0) is clear, but the bitmap has a maximal "
                        "block of order 3 there (1 bits differ)"]


def test_an_extra_bit_on_used_frames_is_named():
    s = state(FREE)
    s = with_map(s, 6, s.maps[6].map | 1 << 1)  # order 6 at frame 64: the kernel's frames
    assert check(s) == ["map 6 bit 0x1 (frame 0x40) is set, but the bitmap says frame 0x40 in "
                        "it is used (1 bits differ)"]


def test_a_free_block_that_is_not_maximal_is_named():
    s = state(FREE)
    s = with_map(s, 9, s.maps[9].map | 1 << 7)  # frame 3584: inside the order-10 block at 3072
    assert check(s) == ["map 9 bit 0x7 (frame 0xe00) is set, but it is part of the maximal "
                        "block of order 10 at frame 0xc00 (1 bits differ)"]


def test_an_exempt_block_also_in_a_map_is_named():
    s = state(FREE)
    s = with_map(s, 8, s.maps[8].map | 1 << (front_head(3, 8) >> 8))
    assert check(s) == ["map 8 bit 0x1 (frame 0x100) is set, but it is a front block of the "
                        "hint word 0x3 (exempt) (1 bits differ)"]
    s = state(FREE)
    s = with_map(s, 2, s.maps[2].map | 1 << 100)
    assert check(s) == ["map 2 bit 0x64 (frame 0x64) is set, but it is a maximal block inside "
                        "the hint word 0x3 (exempt) (1 bits differ)"]


def test_the_own_block_in_a_map_is_named():
    s = state(free_range(128, FRAMES))
    s = with_map(s, 7, s.maps[7].map | 1 << 1)
    assert check(s) == ["map 7 bit 0x1 (frame 0x80) is set, but it is the hint word 0x4's own "
                        "block (exempt) (1 bits differ)"]


def test_a_wrong_front_mask_and_hint_order_are_named():
    s = dataclasses.replace(state(FREE), front_mask=1 << 7)
    assert check(s) == ["buddy_front_mask is 0x80, the bitmap implies 0x180 (hint word 0x3, "
                        "cap 10): bit 8, the order-8 block at frame 0x100"]
    s = dataclasses.replace(state(free_range(128, FRAMES)), hint_order=6)
    assert check(s) == ["buddy_hint_order is 6, the bitmap implies 7 (hint word 0x4)"]


def test_a_wrong_summary_bit_is_named():
    s = state(FREE)
    om = s.maps[0]
    s.maps[0] = OrderMap((om.levels[0], om.levels[1] | 1 << 5, *om.levels[2:]), om.words)
    assert check(s) == ["map 0 summary level 1 bit 0x5 is set, word 0x5 of level 0 is zero"]


def test_node_counters_are_named():
    nodes = bytes(1000) + bytes([1]) * (FRAMES - 1000)
    s = state(FREE, nodes=nodes, node_count=2)
    s.node_stats[1]["free_frames"] += 1
    assert check(s) == [f"node 1: free_frames {FRAMES - 1000 - 3 + 1}, expected "
                        f"{FRAMES - 1000 - 3}"]
    s = state(FREE)
    s.node_stats[0]["free_frames"] = 5
    assert check(s) == ["node 0: free_frames 5, expected 0 (one node: not kept)"]


def test_free_frames_reserved_and_contig_marks_are_named():
    flags = bytearray(FRAMES)
    flags[50] = FRAME_CONTIG   # a used frame: fine
    flags[200] = FRAME_CONTIG | 1
    s = state(FREE, reserved=1 << 300, flags=bytes(flags))
    s = dataclasses.replace(s, free_frames=s.free_frames - 1)
    assert check(s) == ["frame 0x12c is reserved but free",
                        f"pmm_stats.free_frames {FREE.bit_count() - 1}, the bitmap has "
                        f"{FREE.bit_count()} free frames",
                        "frame 0xc8 is free but has FRAME_CONTIG (a kmalloc_contig head)"]


def test_a_zone_boundary_is_respected():
    nodes = bytes(1000) + bytes([1]) * (FRAMES - 1000)
    s = state(FREE, nodes=nodes, node_count=2)
    assert check(s) == []
    s = state(FREE)  # one zone's maps, audited with the boundary at 1000
    s = dataclasses.replace(s, nodes=nodes, node_count=2,
                            node_stats=state(FREE, nodes=nodes, node_count=2).node_stats)
    problems = check(s)
    assert problems[0] == ("map 3 bit 0x3e0 (frame 0x3e0) is clear, but the bitmap has a "
                           "maximal block of order 3 there (2 bits differ)")


@pytest.mark.parametrize("frames", [1 << 20])
def test_the_audit_is_fast_at_4_gib(frames):
    free = free_range(300, frames) & ~sum(1 << (f * 7919 % frames) for f in range(2000))
    s = state(free, frames=frames)
    start = time.perf_counter()
    assert check(s) == []
    assert time.perf_counter() - start < 2.0, "big-int operations only"
