"""The buddy model alone (harness/targets/mmverify/buddy_model.py), no QEMU:
its allocation rules (the lowest block of the smallest order, the first
zone, allocate_pages' tail, refusals, a poke and its repair) on hand-made
bitmaps, and random sequences that end with the blocks of the start."""

import random

import pytest

from harness.decode.buddy import Zones
from harness.targets.mmverify.buddy_model import MAX_ORDER, BuddyModel, KernelMaps


def zone0(pfn: int) -> int:
    return 0


def free_range(first: int, end: int) -> int:
    return ((1 << (end - first)) - 1) << first


def blocks(m: BuddyModel) -> dict[int, list[int]]:
    """order -> heads, lowest first (non-empty orders only)."""
    return {k: m.heads(k) for k in range(MAX_ORDER + 1) if m.heads(k)}


def test_allocate_page_takes_the_lowest_frame():
    m = BuddyModel.from_free(64, zone0, free_range(8, 16))
    assert [m.allocate_page() for _ in range(3)] == [8, 9, 10]
    assert blocks(m) == {0: [11], 2: [12]}


def test_a_block_request_takes_the_lowest_block_of_the_smallest_order_that_fits():
    m = BuddyModel.from_free(64, zone0, free_range(0, 32) | free_range(40, 44) | free_range(52, 56))
    assert blocks(m) == {2: [40, 52], 5: [0]}
    assert m.allocate_block(1) == 40, "order 2 is the smallest holding 2 frames: its lowest"
    assert m.allocate_block(2) == 52
    assert m.allocate_block(0) == 42, "the order-1 half left of the block at 40"
    assert m.allocate_block(2) == 0, "then the order-5 block is split"
    assert blocks(m) == {0: [43], 2: [4], 3: [8], 4: [16]}


def test_a_block_request_tries_the_zones_in_node_order():
    # zone 0: 0..63 (an order-3 block at 56), zone 2: 64..127 (order 6 at 64)
    zones = Zones.from_function(128, lambda f: 2 * (f >= 64))
    m = BuddyModel(128, zones, free_range(56, 128))
    assert m.allocate_block(4) == 64, "zone 0 has nothing of order 4"
    assert m.allocate_block(3) == 56, "zone 0 first, though zone 2 has order-4 blocks"
    assert m.allocate_block(3) == 80
    assert m.allocate_block(MAX_ORDER) is None
    assert m.failures[MAX_ORDER] == 1


def test_allocate_pages_keeps_n_frames_and_frees_the_tail():
    m = BuddyModel.from_free(64, zone0, free_range(8, 16))
    assert m.allocate_pages(5) == 8
    assert blocks(m) == {0: [13], 1: [14]}
    assert m.allocate_pages(3) is None, "no block of 4 is left"


def test_allocate_pages_goes_above_the_direct_map_limit_last():
    zones = Zones.from_function(128, lambda f: f >= 96)  # zone 1: "above the limit"
    m = BuddyModel(128, zones, free_range(90, 128))
    assert m.allocate_pages(4) == 92
    assert m.allocate_pages(8) == 96, "zone 0 has no 8 frames left: zone 1"
    assert m.allocate_block(3) is None, "allocate_block stays below the limit"


def test_bad_frees_are_refused_frame_by_frame():
    m = BuddyModel.from_free(64, zone0, free_range(8, 16), reserved=1 << 2)
    before = m.free
    assert not m.free_page(8), "already free"
    assert not m.free_page(2), "reserved"
    assert not m.free_page(64), "past the frames"
    assert m.free_block(8, 3) == [False] * 8, "a free block"
    assert m.free_block(0, MAX_ORDER + 1) == [False], "no block is that large"
    assert m.free == before, "nothing changed"
    assert m.free_block(0, 2) == [True, True, False, True], "the reserved frame alone refused"
    assert blocks(m) == {0: [3], 1: [0], 3: [8]}


def test_a_poked_block_is_taken_then_the_maps_are_rebuilt_and_the_request_retried():
    m = BuddyModel.from_free(64, zone0, free_range(0, 16) | free_range(32, 40))
    m.poke(1)
    assert blocks(m) == {0: [0], 1: [2], 2: [4], 3: [8, 32]}, "the bitmap's blocks"
    assert m.allocate_block(3) == 32, "the maps still have order 4 at 0: order 3 first"
    assert m.repairs == 0
    assert m.allocate_block(3) == 8, "the stale block at 0 was taken: rebuilt, then order 3"
    assert m.repairs == 1 and m.stale == 0


def test_the_own_block_is_checked_only_for_the_part_taken():
    m = BuddyModel.from_free(256, zone0, free_range(64, 256))
    assert (m.exempt().hint_order, m.exempt().front_mask) == (6, 1 << 7)
    m.poke(100)  # in the own block's upper half
    assert m.allocate_block(5) == 64 and m.repairs == 0, "frames 64..95 are free"
    assert m.allocate_block(5) == 128, "the upper half holds the poke: repaired, then the front"
    assert m.repairs == 1


def kernel_maps(m: BuddyModel) -> KernelMaps:
    """The maps a kernel holding exactly this bitmap has."""
    ex = m.exempt()
    return KernelMaps(tuple(m.maps()), ex.hint, ex.hint_order, ex.front_mask)


def test_a_stale_map_entry_taken_by_allocate_pages_is_repaired_then_retried():
    m = BuddyModel.from_free(256, zone0, free_range(64, 256))
    km = kernel_maps(m)
    stale = KernelMaps((0,) * 5 + (km.maps[5] | 1 << 1,) + km.maps[6:], km.hint, km.hint_order,
                       km.front_mask)  # an order-5 block at 32 the bitmap says is used
    assert m.allocate_pages_from(stale, 20) == 64 and m.repairs == 1
    assert m.allocate_pages_from(kernel_maps(m), 20) == 96 and m.repairs == 1


@pytest.mark.parametrize("seed", range(10))
def test_predicting_from_exact_maps_is_predicting_from_the_bitmap(seed):
    rng = random.Random(seed)
    frames = 2048
    zones = Zones.from_function(frames, lambda f: 2 * (f >= 700) + (f >= 1500))
    m = BuddyModel(frames, zones, free_range(40, frames) & ~free_range(300, 303))
    for _ in range(60):
        n = rng.randrange(2, 200)
        twin = BuddyModel(m.frames, m.zones, m.free, m.reserved)
        assert m.allocate_pages_from(kernel_maps(m), n) == twin.allocate_pages(n)
        assert m.free == twin.free and m.repairs == 0
        for _ in range(rng.randrange(3)):
            used = ~m.free & free_range(40, frames)
            if used:
                f = rng.choice([i for i in range(frames) if used >> i & 1])
                m.free_page(f)


def test_a_poked_frame_freed_again_is_no_longer_stale():
    m = BuddyModel.from_free(64, zone0, free_range(0, 16))
    m.poke(1)
    assert m.free_page(1)
    assert m.allocate_block(4) == 0 and m.repairs == 0


def test_the_maps_leave_out_the_hint_word_and_its_front():
    m = BuddyModel.from_free(1024, zone0, free_range(0, 1024))
    assert m.allocate_page() == 0
    ex = m.exempt()
    assert (ex.hint, ex.hint_order, ex.front_mask) == (0, 0, 0b1111100000)
    assert m.maps() == [0] * (MAX_ORDER + 1), "word 0 and its front are all there is"
    assert m.allocate_block(5) == 32, "the front block B_5(0) is the lowest of order 5"
    assert m.exempt().front_mask == 0b1111000000
    assert m.maps()[5] == 0


@pytest.mark.parametrize("seed", range(20))
def test_random_sequences_end_with_the_blocks_of_the_start(seed):
    rng = random.Random(seed)
    frames = 4096
    zones = Zones.from_function(frames, lambda f: 2 * (f >= 1000) + (f >= 3000))
    m = BuddyModel(frames, zones, free_range(3, frames) & ~free_range(600, 610))
    initial = m.blocks()
    held: list[tuple[int, int]] = []
    for _ in range(300):
        op = rng.random()
        free_before = m.free
        if op < 0.3 or not held:
            k = rng.randrange(MAX_ORDER + 1)
            if (pfn := m.allocate_block(k)) is not None:
                held.append((pfn, 1 << k))
                assert free_before >> pfn & ((1 << (1 << k)) - 1) == (1 << (1 << k)) - 1
        elif op < 0.5:
            n = rng.randrange(2, 70)
            if (pfn := m.allocate_pages(n)) is not None:
                held.append((pfn, n))
        elif op < 0.6:
            if (pfn := m.allocate_page()) is not None:
                held.append((pfn, 1))
        else:
            pfn, n = held.pop(rng.randrange(len(held)))
            if n & (n - 1) == 0 and rng.random() < 0.5:
                assert m.free_block(pfn, n.bit_length() - 1) == [True] * n
            else:
                assert all(m.free_page(f) for f in range(pfn, pfn + n))
        covered = sum(((1 << n) - 1) << p for p, n in held)
        assert covered | m.free == free_range(3, frames) & ~free_range(600, 610)
    for pfn, n in held:
        assert all(m.free_page(f) for f in range(pfn, pfn + n))
    assert m.blocks() == initial, "everything freed: the blocks of the start"
