"""The buddy derivation and map decoding alone (harness/decode/buddy.py), no
QEMU: the maximal blocks of hand-made bitmaps (zones cutting merges,
used frames, the order-10 cap), the same as a frame-by-frame reference on
random bitmaps, the hint word's exempt blocks, and the maps read back from
raw bytes."""

import random
import struct

import pytest

from harness.decode.buddy import (
    MAX_ORDER,
    ORDERS,
    Zones,
    cap_of_word,
    compress,
    decode_maps,
    exempt_of,
    expected_maps,
    front_head,
    maximal_blocks,
    nonzero_words,
    spread,
    summary_levels,
)


def free_range(first: int, end: int) -> int:
    return ((1 << (end - first)) - 1) << first


def as_dict(blocks: list[int]) -> dict[int, list[int]]:
    """order -> heads, lowest first (non-empty orders only)."""
    out = {}
    for k, b in enumerate(blocks):
        heads = [f for f in range(b.bit_length()) if b >> f & 1]
        if heads:
            out[k] = heads
    return out


def reference_blocks(free: int, frames: int, zone_of) -> dict[int, list[int]]:
    """Frame by frame, as the design's C test does: from each free frame not
    yet in a block, grow the aligned block while the upper half is free and
    in the same zone."""
    out: dict[int, list[int]] = {}
    f = 0
    while f < frames:
        if not free >> f & 1:
            f += 1
            continue
        k = 0
        while k < MAX_ORDER and not f & (1 << k):
            end = f + (2 << k)
            if end > frames or not all(free >> x & 1 and zone_of(x) == zone_of(f)
                                       for x in range(f + (1 << k), end)):
                break
            k += 1
        out.setdefault(k, []).append(f)
        f += 1 << k
    return out


def test_a_run_is_cut_into_the_largest_aligned_blocks():
    blocks = maximal_blocks(free_range(3, 40) | free_range(48, 56), Zones.single(64))
    assert as_dict(blocks) == {0: [3], 2: [4], 3: [8, 32, 48], 4: [16]}


def test_a_zone_start_cuts_every_merge_across_it():
    zones = Zones.from_function(64, lambda f: 2 if f >= 20 else 0)
    assert zones.runs == ((0, 0), (20, 2))
    assert as_dict(maximal_blocks(free_range(0, 64), zones)) == {2: [16, 20], 3: [24], 4: [0],
                                                                5: [32]}


def test_used_frames_split_blocks_and_reserved_frames_are_just_used():
    free = free_range(0, 64) & ~(1 << 5) & ~(1 << 40)
    assert as_dict(maximal_blocks(free, Zones.single(64))) == {
        0: [4, 41], 1: [6, 42], 2: [0, 44], 3: [8, 32], 4: [16, 48]}


def test_blocks_stop_at_order_10():
    frames = 4096
    blocks = maximal_blocks(free_range(0, frames), Zones.single(frames))
    assert as_dict(blocks) == {MAX_ORDER: [0, 1024, 2048, 3072]}


def test_frames_past_the_covered_ones_are_never_free():
    blocks = maximal_blocks(free_range(0, 80), Zones.single(40))
    assert as_dict(blocks) == {3: [32], 5: [0]}


def test_zones_from_nodes_split_at_the_direct_map_limit():
    frames = 0x30000 + 64
    nodes = bytes(0x20000) + bytes([1]) * (frames - 0x20000)
    zones = Zones.from_nodes(nodes, frames)
    assert zones.runs == ((0, 0), (0x20000, 2), (0x30000, 3))
    assert [zones.zone_of(f) for f in (0, 0x1FFFF, 0x20000, 0x2FFFF, 0x30000)] == [0, 0, 2, 2, 3]
    assert zones.mask(3) == free_range(0x30000, frames)


@pytest.mark.parametrize("seed", range(30))
def test_the_derivation_equals_the_frame_by_frame_reference(seed):
    rng = random.Random(seed)
    frames = rng.choice([64, 700, 2048, 3000, 4096])
    cuts = sorted(rng.sample(range(1, frames), rng.randrange(0, 4)))

    def zone_of(f: int) -> int:
        return sum(1 for c in cuts if f >= c) % 3

    free = 0
    for _ in range(rng.randrange(1, 30)):  # runs of free frames with holes
        a = rng.randrange(frames)
        free |= free_range(a, min(frames, a + rng.randrange(1, 1500)))
    free &= ~sum(1 << rng.randrange(frames) for _ in range(rng.randrange(10)))
    got = as_dict(maximal_blocks(free, Zones.from_function(frames, zone_of)))
    assert got == reference_blocks(free, frames, zone_of)


def test_compress_and_spread_are_inverse():
    x = (1 << 0) | (1 << 32) | (1 << 96)
    assert compress(x, 32, 128) == 0b1011
    assert spread(0b1011, 32) == x
    assert compress(x, 32, 96) == 0b11, "bits at or past n are left out"


def test_summaries_mark_the_non_zero_words():
    level0 = (1 << 5) | (0xFFFFFFFF << 64) | (1 << 31 << 32 * 40)
    assert nonzero_words(level0, 41) == (1 << 0) | (1 << 2) | (1 << 40)
    levels = summary_levels(level0, 41)
    assert levels == [(level0, 41), ((1 << 0) | (1 << 2) | (1 << 40), 2), (0b11, 1)]
    assert summary_levels(7, 1) == [(7, 1)]


def test_the_cap_stops_at_a_zone_or_the_end_of_the_frames():
    zones = Zones.from_function(4096, lambda f: 2 if f >= 512 else 0)
    assert cap_of_word(zones, 0) == 9, "the 512-frame block holding word 0 is one zone"
    assert cap_of_word(zones, 16) == 9
    assert cap_of_word(zones, 32) == 10, "1024..2047: one zone"
    assert cap_of_word(Zones.from_function(64, lambda f: f >= 40), 1) == 4, "a cut inside"
    assert cap_of_word(Zones.single(96), 0) == 6, "128 frames would run past the 96"


def test_the_hint_words_exempt_blocks():
    frames = 1024
    free = free_range(0, frames) & ~(1 << 3)  # frame 3 used: word 0 is the hint
    blocks = maximal_blocks(free, Zones.single(frames))
    ex = exempt_of(blocks, Zones.single(frames), 0)
    assert (ex.hint_order, ex.cap) == (0, 10)
    assert ex.front_mask == sum(1 << i for i in range(5, 10)), "B_5 .. B_9 all maximal"
    assert ex.blocks() == [(front_head(0, i), i) for i in range(5, 10)]
    maps = expected_maps(blocks, ex, frames)
    assert maps[:5] == [0] * 5, "word 0's small blocks are exempt"
    assert maps[5:] == [0] * 6, "everything else is the front"
    # Frame 3 freed: word 0 is empty, its own block is the whole 1024 frames.
    blocks = maximal_blocks(free_range(0, frames), Zones.single(frames))
    ex = exempt_of(blocks, Zones.single(frames), 0)
    assert (ex.hint_order, ex.front_mask) == (10, 0)
    # The hint on an empty word whose order-6 block sits below used frames.
    free = free_range(64, 128) | free_range(256, 1024)
    blocks = maximal_blocks(free, Zones.single(frames))
    ex = exempt_of(blocks, Zones.single(frames), 2)
    assert (ex.hint_order, ex.front_mask) == (6, (1 << 8) | (1 << 9))
    maps = expected_maps(blocks, ex, frames)
    assert maps == [0] * ORDERS, "own block 64 (order 6), front 256 (8) and 512 (9)"


def test_maps_decode_from_the_area_with_their_levels():
    area = bytearray(4096)
    base = 0xC0400000
    pointers = [[base + 64 * k, base + 64 * k + 48, 0, 0, 0] for k in range(ORDERS)]
    words = [[2, 1, 0, 0, 0] for _ in range(ORDERS)]
    levels = [2] * ORDERS
    struct.pack_into("<II", area, 64 * 3, 0, 0x10)
    struct.pack_into("<I", area, 64 * 3 + 48, 0b10)
    maps, problems = decode_maps(bytes(area), base, pointers, words, levels)
    assert problems == []
    assert maps[3].levels == (0x10 << 32, 0b10) and maps[3].words == (2, 1)
    assert maps[3].map == 0x10 << 32
    pointers[4][1] = base + 4094
    levels[5] = 0
    maps, problems = decode_maps(bytes(area), base, pointers, words, levels)
    assert problems == ["map 4 level 1: 1 words at 0xc0400ffe are outside the map area "
                        "0xc0400000+0x1000", "map 5: buddy_map_levels says 0 levels, there are "
                        "1..5"]
