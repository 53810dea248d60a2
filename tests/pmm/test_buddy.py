"""The buddy lists through the PMM's calls, against the Python model
(harness/targets/mmverify/buddy_model.py) started from the kernel's own lists
(decoded from guest RAM): every returned address predicted exactly, the
lists compared whole (every zone, order and position) along the way and at
the end.  After each test the audit (conftest.py) checks the lists against
the bitmap."""

import random

import pytest

from harness.decode.buddy import BLOCK
from harness.targets.mmverify.buddy_model import MAX_ORDER, BuddyModel
from harness.targets.mmverify.pmm_audit import buddy_audit, buddy_model, read_buddy

FRAME = 4096


def kernel_lists(kernel) -> list[list[list[int]]]:
    return read_buddy(kernel).lists.lists


def block_set(lists) -> set[tuple[int, int, int]]:
    return {(z, k, h) for z, zone in enumerate(lists) for k, heads in enumerate(zone)
            for h in heads}


def addr(pfn: int | None) -> int:
    return 0 if pfn is None else pfn * FRAME


class Driver:
    """Calls the kernel and the model side by side; asserts every result."""

    def __init__(self, machine, kernel) -> None:
        self.m, self.k = machine, kernel
        self.model: BuddyModel = buddy_model(kernel)
        self.held: list[tuple[int, int]] = []  # (first frame, frames)

    def allocate_block(self, order: int) -> None:
        expected = self.model.allocate_block(order)
        assert self.m.call("allocate_block", order) == addr(expected), f"allocate_block({order})"
        if expected is not None:
            self.held.append((expected, 1 << order))

    def allocate_pages(self, n: int) -> None:
        expected = self.model.allocate_pages(n)
        assert self.m.call("allocate_pages", n) == addr(expected), f"allocate_pages({n})"
        if expected is not None:
            self.held.append((expected, n))

    def allocate_page(self) -> None:
        expected = self.model.allocate_page()
        assert self.m.call("allocate_page") == addr(expected), "allocate_page: the lowest frame"
        if expected is not None:
            self.held.append((expected, 1))

    def free(self, index: int, as_block: bool) -> None:
        pfn, n = self.held.pop(index)
        if as_block and n & (n - 1) == 0:
            order = n.bit_length() - 1
            assert self.model.free_block(pfn, order) == [True] * n
            self.m.call("free_block", pfn * FRAME, order)
        else:
            for f in range(pfn, pfn + n):
                assert self.model.free_page(f)
            self.m.call("free_pages", pfn * FRAME, n)

    def compare(self) -> None:
        assert kernel_lists(self.k) == self.model.lists, "every list, in order"
        used, _ = self.k.pmm_bitmaps()
        below = (1 << self.model.frames) - 1
        assert ~used.value & below == self.model.free, "the bitmap's free frames"
        assert self.k.pmm_stats()["free_frames"] == self.model.free.bit_count()


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.machine(memory="32M")
def test_random_requests_of_every_order_follow_the_model(machine, kernel, seed):
    rng = random.Random(seed)
    d = Driver(machine, kernel)
    initial = block_set(d.model.lists)
    orders_seen = set()
    for step in range(160):
        op = rng.random()
        if op < 0.35 or not d.held:
            order = rng.randrange(MAX_ORDER + 1)
            orders_seen.add(order)
            d.allocate_block(order)
        elif op < 0.5:
            d.allocate_pages(rng.randrange(2, 300))
        elif op < 0.6:
            d.allocate_page()
        else:
            d.free(rng.randrange(len(d.held)), as_block=rng.random() < 0.6)
        if step % 20 == 19:
            d.compare()
    assert orders_seen == set(range(MAX_ORDER + 1))
    d.compare()
    while d.held:
        d.free(len(d.held) - 1, as_block=True)
    d.compare()
    assert block_set(kernel_lists(kernel)) == initial, "all freed: the blocks of the start"


@pytest.mark.machine(memory="32M")
def test_the_lists_at_boot_are_the_bitmap_cut_into_blocks(kernel):
    """buddy_rebuild at boot makes exactly the lists the model makes from
    the bitmap: the largest aligned blocks, each list in address order."""
    s = read_buddy(kernel)
    below = (1 << s.frames) - 1
    built = BuddyModel.from_free(s.frames, buddy_model(kernel).zone_of, ~s.used & below)
    assert s.lists.lists == built.lists
    assert s.stats["free_blocks"] == built.free_blocks()


@pytest.mark.machine(memory="32M")
def test_the_largest_order_runs_out_while_smaller_blocks_remain(machine, kernel):
    d = Driver(machine, kernel)
    initial = block_set(d.model.lists)
    before = kernel.read_struct("buddy_stats", "buddy_stats")
    while True:  # until both say NULL (one failure)
        held = len(d.held)
        d.allocate_block(MAX_ORDER)
        if len(d.held) == held:
            break
    assert held >= 4, "32 MiB holds several 4 MiB blocks"
    after = kernel.read_struct("buddy_stats", "buddy_stats")
    assert after["failures"][MAX_ORDER] == before["failures"][MAX_ORDER] + 1
    assert after["free_blocks"][MAX_ORDER] == 0
    assert sum(after["free_blocks"][:MAX_ORDER]) > 0, "smaller blocks are still there"
    largest_left = max(k for k in range(MAX_ORDER) if after["free_blocks"][k])
    d.allocate_block(largest_left)
    d.allocate_block(0)
    assert len(d.held) == held + 2, "smaller orders are still served"
    d.compare()
    while d.held:
        d.free(0, as_block=True)
    d.compare()
    assert block_set(kernel_lists(kernel)) == initial


def errors(machine, mark) -> list[tuple[str, int]]:
    return [(r["error"], r.int("addr")) for r in machine.records("PMM", since=mark)]


@pytest.mark.machine(memory="32M")
def test_bad_block_frees_are_refused_and_change_nothing(machine, kernel):
    before_lists = kernel_lists(kernel)
    before = kernel.pmm_stats()
    # 8 free frames, aligned: the head of a free block of order 3 or more
    # (which orders the boot leaves depends on where the kernel image ends).
    free_block = next(h for heads in before_lists[0][3:] for h in heads)
    mark = machine.mark()
    machine.call("free_block", free_block * FRAME, 3)
    assert errors(machine, mark) == [("double-free", (free_block + i) * FRAME) for i in range(8)]
    kernel_image = 0x100  # 1 MiB: the kernel, reserved
    mark = machine.mark()
    machine.call("free_block", kernel_image * FRAME, 2)
    assert errors(machine, mark) == [("reserved", (kernel_image + i) * FRAME) for i in range(4)]
    mark = machine.mark()
    machine.call("free_block", free_block * FRAME + 0x10, 0)
    assert errors(machine, mark) == [("unaligned", free_block * FRAME + 0x10)]
    mark = machine.mark()
    machine.call("free_block", free_block * FRAME, MAX_ORDER + 1)
    assert errors(machine, mark) == [("out-of-range", free_block * FRAME)]
    after = kernel.pmm_stats()
    assert after["double_frees"] == before["double_frees"] + 8
    assert after["reserved_frees"] == before["reserved_frees"] + 4
    assert after["unaligned_frees"] == before["unaligned_frees"] + 1
    assert after["out_of_range_frees"] == before["out_of_range_frees"] + 1
    assert after["free_frames"] == before["free_frames"]
    assert kernel_lists(kernel) == before_lists, "no list changed"


@pytest.mark.machine(memory="32M")
def test_a_block_freed_half_free_or_misaligned_goes_frame_by_frame(machine, kernel):
    """free_block of frames that are not one whole used block frees what
    free_page would free, refuses the rest: the model's result exactly."""
    d = Driver(machine, kernel)
    d.allocate_block(2)
    pfn, _ = d.held.pop()
    machine.call("free_page", pfn * FRAME)
    assert d.model.free_page(pfn)
    mark = machine.mark()
    machine.call("free_block", pfn * FRAME, 1)  # frame pfn is free already
    assert d.model.free_block(pfn, 1) == [False, True]
    assert errors(machine, mark) == [("double-free", pfn * FRAME)]
    machine.call("free_block", (pfn + 2) * FRAME, 0)
    assert d.model.free_block(pfn + 2, 0) == [True]
    d.compare()
    d.allocate_block(3)
    pfn, _ = d.held.pop()
    machine.call("free_block", (pfn + 2) * FRAME, 2)  # aligned to 2 frames, not 4
    assert d.model.free_block(pfn + 2, 2) == [True] * 4
    d.held.append((pfn, 2))
    d.held.append((pfn + 6, 2))
    d.compare()
    while d.held:
        d.free(0, as_block=False)
    d.compare()


@pytest.mark.machine(memory="32M")
@pytest.mark.parametrize("order", [2, 5])  # inside one bitmap word; whole words
def test_a_marked_block_with_a_frame_freed_alone_goes_frame_by_frame(machine, kernel, order):
    """allocate_block marks the head (BLOCK | order) and free_block trusts
    the mark for alignment and reserved frames, never for the bitmap: with
    one frame freed alone since, the free goes frame by frame and refuses
    that frame, as the model does."""
    d = Driver(machine, kernel)
    d.allocate_block(order)
    pfn, n = d.held.pop()
    assert read_buddy(kernel).lists.orders[pfn] == BLOCK | order
    inner = pfn + n - 1
    machine.call("free_page", inner * FRAME)
    assert d.model.free_page(inner)
    assert read_buddy(kernel).lists.orders[pfn] == BLOCK | order, "the head keeps its mark"
    mark = machine.mark()
    machine.call("free_block", pfn * FRAME, order)
    assert d.model.free_block(pfn, order) == [True] * (n - 1) + [False]
    assert errors(machine, mark) == [("double-free", inner * FRAME)]
    d.compare()


@pytest.mark.machine(memory="32M")
def test_a_mark_left_on_a_frame_freed_inside_a_larger_block_still_checks_the_bitmap(
        machine, kernel):
    """A block allocated inside a block that had frames freed alone keeps its
    mark when the outer block is freed whole; freeing it again by that mark
    is refused frame by frame (the bitmap says free), lists unchanged."""
    d = Driver(machine, kernel)
    d.allocate_block(2)
    outer, _ = d.held.pop()
    for f in (outer + 2, outer + 3):
        machine.call("free_page", f * FRAME)
        assert d.model.free_page(f)
    d.allocate_block(1)  # the newest order-1 block: the two frames just freed
    inner, _ = d.held.pop()
    assert inner == outer + 2
    machine.call("free_block", outer * FRAME, 2)  # all four used in the bitmap
    assert d.model.free_block(outer, 2) == [True] * 4
    assert read_buddy(kernel).lists.orders[inner] == BLOCK | 1, "the inner mark stays"
    mark = machine.mark()
    machine.call("free_block", inner * FRAME, 1)
    assert d.model.free_block(inner, 1) == [False, False]
    assert errors(machine, mark) == [("double-free", inner * FRAME),
                                     ("double-free", (inner + 1) * FRAME)]
    d.compare()


@pytest.mark.machine(memory="32M")
def test_allocate_page_stays_lowest_first_between_block_requests(machine, kernel):
    d = Driver(machine, kernel)
    for order in (5, 0, 9, 2):
        d.allocate_block(order)
        used, _ = kernel.pmm_bitmaps()
        lowest = used.first_clear()
        d.allocate_page()
        assert d.held[-1][0] == lowest
    d.compare()


@pytest.mark.machine(memory="32M")
def test_a_poked_frame_splits_its_block_around_it_and_a_block_request_repairs(machine, kernel):
    """A debugger marks the lowest free frame used behind the PMM's back:
    allocate_page takes the next one, which heads no block, so the block
    holding it is split around it (the model says exactly how); the poked
    frame stays in a list until a block request finds it used in the
    bitmap and rebuilds the lists from the bitmap: then the audit holds."""
    d = Driver(machine, kernel)
    while d.model.order_of[d.model.lowest_free()] < 2:  # to a frame heading 4 or more
        d.allocate_page()
    d.held.clear()
    poked = d.model.lowest_free()
    word = kernel.pmm_bitmap_word_address(poked)
    machine.write_u32(word, machine.read_u32(word) | 1 << poked % 32)
    d.model.poke(poked)
    d.allocate_page()
    d.allocate_page()
    assert [pfn for pfn, _ in d.held] == [poked + 1, poked + 2]
    assert kernel_lists(kernel) == d.model.lists, "split around the taken frames"
    order = d.model.order_of[poked]
    while d.model.lists[0][order][0] != poked:  # up to the poked block
        d.allocate_block(order)
    mark = machine.mark()
    d.allocate_block(order)  # the poked block: used in the bitmap, lists rebuilt
    assert [r.int("block") for r in machine.records("BUDDY", since=mark)] == [poked * FRAME]
    assert kernel.read_struct("buddy_stats", "buddy_stats")["repairs"] == 1
    assert kernel_lists(kernel) == d.model.lists
    assert buddy_audit(kernel) == []


@pytest.mark.machine(memory="32M")
def test_a_block_request_rebuilds_the_lists_around_a_frame_poked_inside_a_block(machine, kernel):
    """The rest of a stale block must not be lost: after the rebuild its
    other frames are free blocks again (the model rebuilds the same way)."""
    d = Driver(machine, kernel)
    order = next(k for k in range(3, MAX_ORDER + 1) if d.model.lists[0][k])
    block = d.model.lists[0][order][0]  # the block allocate_block(order) takes next
    poked = block + (1 << order) - 3
    word = kernel.pmm_bitmap_word_address(poked)
    machine.write_u32(word, machine.read_u32(word) | 1 << poked % 32)
    d.model.poke(poked)
    mark = machine.mark()
    d.allocate_block(order)
    assert [r.int("block") for r in machine.records("BUDDY", since=mark)] == [block * FRAME]
    assert d.held[-1][0] != block
    assert kernel_lists(kernel) == d.model.lists, "rebuilt: the block's other frames are back"
    assert buddy_audit(kernel) == []
