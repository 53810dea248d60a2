"""The buddy model alone (harness/targets/mmverify/buddy_model.py), no QEMU:
the lists it builds, splits and merges follow the kernel's rules, and random
sequences keep every list invariant the PMM audit checks."""

import random

import pytest

from harness.targets.mmverify.buddy_model import MAX_ORDER, BuddyModel


def zone0(pfn: int) -> int:
    return 0


def free_range(first: int, end: int) -> int:
    return ((1 << (end - first)) - 1) << first


def blocks(m: BuddyModel) -> dict[int, list[int]]:
    """Zone 0's non-empty lists: order -> heads in list order."""
    return {k: heads for k, heads in enumerate(m.lists[0]) if heads}


def check_invariants(m: BuddyModel) -> None:
    seen = 0
    for z, zone in enumerate(m.lists):
        for k, heads in enumerate(zone):
            for h in heads:
                n = 1 << k
                assert h % n == 0, f"block {h} of order {k} is not aligned"
                mask = ((1 << n) - 1) << h
                assert not seen & mask, f"block {h} overlaps another"
                seen |= mask
                assert all(m.zone_of(f) == z for f in range(h, h + n)), "crosses a zone"
                buddy = h ^ n
                assert k == MAX_ORDER or m.order_of.get(buddy) != k \
                    or m.zone_of(buddy) != z, f"block {h} of order {k} is not maximal"
                assert m.order_of[h] == k
    assert seen == m.free, "the lists hold exactly the free frames"


def test_a_run_is_cut_into_the_largest_aligned_blocks_in_address_order():
    m = BuddyModel.from_free(64, zone0, free_range(3, 40) | free_range(48, 56))
    assert blocks(m) == {0: [3], 2: [4], 3: [8, 32, 48], 4: [16]}
    check_invariants(m)


def test_a_block_stops_at_a_zone_boundary():
    m = BuddyModel.from_free(64, lambda f: f >= 20, free_range(0, 64))
    assert m.lists[0][4] == [0] and m.lists[0][2] == [16]
    assert m.lists[1][2] == [20] and m.lists[1][3] == [24] and m.lists[1][5] == [32]
    check_invariants(m)


def test_allocate_page_takes_the_lowest_frame_and_splits_its_block():
    m = BuddyModel.from_free(64, zone0, free_range(8, 16))
    assert m.allocate_page() == 8
    assert blocks(m) == {0: [9], 1: [10], 2: [12]}
    assert [m.allocate_page() for _ in range(3)] == [9, 10, 11]
    assert blocks(m) == {2: [12]}


def test_frees_merge_back_to_one_block():
    m = BuddyModel.from_free(64, zone0, free_range(8, 16))
    frames = [m.allocate_page() for _ in range(8)]
    assert m.allocate_page() is None
    for f in reversed(frames):
        assert m.free_page(f)
    assert blocks(m) == {3: [8]}


def test_a_block_request_splits_the_newest_block_of_the_smallest_order_that_fits():
    m = BuddyModel.from_free(64, zone0, free_range(0, 32))
    assert m.allocate_block(2) == 0
    assert blocks(m) == {2: [4], 3: [8], 4: [16]}
    assert m.allocate_block(2) == 4
    assert m.allocate_block(0) == 8
    assert blocks(m) == {0: [9], 1: [10], 2: [12], 4: [16]}


def test_allocate_pages_gives_the_tail_back():
    m = BuddyModel.from_free(64, zone0, free_range(8, 16))
    assert m.allocate_pages(5) == 8
    assert blocks(m) == {0: [13], 1: [14]}
    assert m.allocate_pages(3) is None, "no block of 4 is left"


def test_bad_frees_are_refused_frame_by_frame():
    m = BuddyModel.from_free(64, zone0, free_range(8, 16), reserved=1 << 2)
    before = (m.free, [list(h) for h in m.lists[0]])
    assert not m.free_page(8), "already free"
    assert not m.free_page(2), "reserved"
    assert not m.free_page(64), "past the frames"
    assert m.free_block(8, 3) == [False] * 8, "a free block"
    assert m.free_block(0, MAX_ORDER + 1) == [False], "no block is that large"
    assert (m.free, [list(h) for h in m.lists[0]]) == before, "nothing changed"
    assert m.free_block(0, 2) == [True, True, False, True], "the reserved frame alone refused"
    assert blocks(m) == {0: [3], 1: [0], 3: [8]}
    check_invariants(m)


def test_a_poked_block_makes_the_lists_be_rebuilt():
    m = BuddyModel.from_free(64, zone0, free_range(0, 16))
    m.poke(1)
    assert m.allocate_block(1) == 2, "the block at 0 holds a used frame: rebuilt, then taken"
    assert blocks(m) == {0: [0], 2: [4], 3: [8]}
    check_invariants(m)


@pytest.mark.parametrize("seed", range(20))
def test_random_sequences_keep_every_invariant(seed):
    rng = random.Random(seed)
    frames = 4096
    m = BuddyModel.from_free(frames, lambda f: 2 * (f >= 1000) + (f >= 3000),
                             free_range(3, frames) & ~free_range(600, 610), node_count=2)
    initial = {(z, k, h) for z, zone in enumerate(m.lists) for k, hs in enumerate(zone) for h in hs}
    held: list[tuple[int, int]] = []
    for _ in range(300):
        op = rng.random()
        if op < 0.3 or not held:
            k = rng.randrange(MAX_ORDER + 1)
            if (pfn := m.allocate_block(k)) is not None:
                held.append((pfn, 1 << k))
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
        check_invariants(m)
    for pfn, n in held:
        assert all(m.free_page(f) for f in range(pfn, pfn + n))
    check_invariants(m)
    assert {(z, k, h) for z, zone in enumerate(m.lists) for k, hs in enumerate(zone)
            for h in hs} == initial, "everything freed: the blocks of the start"
