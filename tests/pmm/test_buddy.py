"""The buddy maps through the PMM's calls, against the Python model
(harness/targets/mmverify/buddy_model.py) started from the kernel's bitmap:
every returned address predicted exactly, and after every step every
order's map, its summaries, the hint word's front and own block, the
bitmap and the free count compared whole with what the model's bitmap
implies.  After each test the audit (conftest.py) checks the same again."""

import random

import pytest

from harness.decode.buddy import MAX_ORDER, ORDERS
from harness.targets.mmverify.buddy_model import BuddyModel
from harness.targets.mmverify.pmm_audit import buddy_audit, buddy_model, read_buddy
from tests.pmm import summaries
from tests.pmm.poke import poke_used

FRAME = 4096


def addr(pfn: int | None) -> int:
    return 0 if pfn is None else pfn * FRAME


def kernel_free_blocks(machine) -> list[int]:
    """buddy_free_blocks(k) for every order, called in the guest."""
    return [machine.call("buddy_free_blocks", k) for k in range(ORDERS)]


class Driver:
    """Calls the kernel and the model side by side; asserts every result."""

    def __init__(self, machine, kernel) -> None:
        self.m, self.k = machine, kernel
        self.model: BuddyModel = buddy_model(kernel)
        self.held: list[tuple[int, int]] = []  # (first frame, frames)
        self.ops: list[str] = []  # what was called, for the failure messages

    def allocate_block(self, order: int) -> int | None:
        self.ops.append(f"allocate_block({order})")
        expected = self.model.allocate_block(order)
        assert self.m.call("allocate_block", order) == addr(expected), f"allocate_block({order})"
        if expected is not None:
            self.held.append((expected, 1 << order))
        return expected

    def allocate_pages(self, n: int) -> None:
        self.ops.append(f"allocate_pages({n})")
        expected = self.model.allocate_pages(n)
        assert self.m.call("allocate_pages", n) == addr(expected), f"allocate_pages({n})"
        if expected is not None:
            self.held.append((expected, n))

    def allocate_page(self) -> None:
        self.ops.append("allocate_page()")
        expected = self.model.allocate_page()
        assert self.m.call("allocate_page") == addr(expected), "allocate_page: the lowest frame"
        if expected is not None:
            self.held.append((expected, 1))

    def free(self, index: int, as_block: bool) -> None:
        pfn, n = self.held.pop(index)
        self.ops.append(f"free {n} frames at {pfn:#x}" + (" as a block" if as_block else ""))
        if as_block and n & (n - 1) == 0:
            order = n.bit_length() - 1
            assert self.model.free_block(pfn, order) == [True] * n
            self.m.call("free_block", pfn * FRAME, order)
        else:
            for f in range(pfn, pfn + n):
                assert self.model.free_page(f)
            self.m.call("free_pages", pfn * FRAME, n)

    def compare(self) -> None:
        """The kernel's maps, front, hint order and bitmap are exactly the model's."""
        s = read_buddy(self.k)
        after = f"after {len(self.ops)} calls, the last {self.ops[-3:]}"
        diff = s.free ^ self.model.free
        first = (diff & -diff).bit_length() - 1
        assert not diff, f"{after}: the bitmap's free frames differ from frame {first:#x} " \
                         f"({diff.bit_count()} frames; the kernel has it " \
                         f"{'free' if s.free >> first & 1 else 'used'})"
        ex = self.model.exempt()
        assert (s.hint, s.hint_order, s.front_mask) == (ex.hint, ex.hint_order, ex.front_mask), \
            f"{after}: the hint word, its own block and its front"
        for k, (om, want) in enumerate(zip(s.maps, self.model.maps(), strict=True)):
            assert om.map == want, f"{after}: map {k}, bits {om.map ^ want:#x} differ"
        # The PMM's own summary levels ("word full") too: block requests fill
        # and empty words without allocate_page's path.
        levels = self.k.pmm_levels()
        expected = summaries.summary_levels(summaries.level0_words(s.used, s.frame_count))
        for lv in range(1, len(expected)):
            assert levels[lv] == expected[lv], f"{after}: PMM summary level {lv}"
        assert self.k.pmm_stats()["free_frames"] == s.free_frames == self.model.free.bit_count()


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.machine(memory="32M")
def test_random_requests_of_every_order_follow_the_model(machine, kernel, seed):
    rng = random.Random(seed)
    d = Driver(machine, kernel)
    initial = d.model.blocks()
    orders_seen = set()
    for _ in range(160):
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
        d.compare()
    assert orders_seen == set(range(MAX_ORDER + 1))
    while d.held:
        d.free(len(d.held) - 1, as_block=True)
        d.compare()
    assert d.model.blocks() == initial, "all freed: the blocks of the start"
    assert kernel_free_blocks(machine) == d.model.free_blocks()


@pytest.mark.machine(memory="32M")
def test_the_maps_at_boot_are_the_bitmaps_blocks(machine, kernel):
    """At kernel_ready the maps hold exactly the maximal blocks of the
    bitmap but the hint word's, and buddy_free_blocks counts them all."""
    d = Driver(machine, kernel)
    d.compare()
    counts = kernel_free_blocks(machine)
    assert counts == d.model.free_blocks()
    assert sum(c << k for k, c in enumerate(counts)) == kernel.pmm_stats()["free_frames"]


@pytest.mark.machine(memory="32M")
def test_the_largest_order_runs_out_while_smaller_blocks_remain(machine, kernel):
    d = Driver(machine, kernel)
    initial = d.model.blocks()
    before = kernel.read_struct("buddy_stats", "buddy_stats")
    while d.allocate_block(MAX_ORDER) is not None:  # until both say NULL (one failure)
        pass
    assert len(d.held) >= 4, "32 MiB holds several 4 MiB blocks"
    after = kernel.read_struct("buddy_stats", "buddy_stats")
    assert after["failures"][MAX_ORDER] == before["failures"][MAX_ORDER] + 1
    counts = kernel_free_blocks(machine)
    assert counts == d.model.free_blocks()
    assert counts[MAX_ORDER] == 0 and sum(counts) > 0, "smaller blocks are still there"
    largest_left = max(k for k in range(MAX_ORDER) if counts[k])
    held = len(d.held)
    d.allocate_block(largest_left)
    frames_left = sum(c << k for k, c in enumerate(d.model.free_blocks()))
    d.allocate_block(0)  # the boot's layout decides whether a frame is left for it
    assert len(d.held) == held + 1 + (frames_left > 0), "smaller orders are still served"
    d.compare()
    while d.held:
        d.free(0, as_block=True)
    d.compare()
    assert d.model.blocks() == initial


def errors(machine, mark) -> list[tuple[str, int]]:
    return [(r["error"], r.int("addr")) for r in machine.records("PMM", since=mark)]


@pytest.mark.machine(memory="32M")
def test_bad_block_frees_are_refused_and_change_nothing(machine, kernel):
    d = Driver(machine, kernel)
    before_maps = [om.map for om in read_buddy(kernel).maps]
    before = kernel.pmm_stats()
    # 8 free frames, aligned: the head of a free block of order 3 or more
    # (which orders the boot leaves depends on where the kernel image ends).
    free_block = next(h for k in range(3, ORDERS) for h in d.model.heads(k))
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
    assert [om.map for om in read_buddy(kernel).maps] == before_maps, "no map changed"
    d.compare()


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
@pytest.mark.parametrize("order", [2, 5, 9])  # inside one bitmap word; whole words
def test_a_block_with_a_frame_freed_alone_goes_frame_by_frame(machine, kernel, order):
    """free_block of a block one of whose frames was freed alone since goes
    frame by frame and refuses that frame, as the model does."""
    d = Driver(machine, kernel)
    d.allocate_block(order)
    pfn, n = d.held.pop()
    inner = pfn + n - 1
    machine.call("free_page", inner * FRAME)
    assert d.model.free_page(inner)
    d.compare()
    mark = machine.mark()
    machine.call("free_block", pfn * FRAME, order)
    assert d.model.free_block(pfn, order) == [True] * (n - 1) + [False]
    assert errors(machine, mark) == [("double-free", inner * FRAME)]
    d.compare()


@pytest.mark.machine(memory="32M")
def test_a_block_freed_below_the_hint_word_and_inside_it_merges(machine, kernel):
    """Blocks given back below the hint, in the hint word and at its front
    positions: after each, the maps, the front and the own block are what
    the bitmap implies (the merges the design makes without the maps)."""
    d = Driver(machine, kernel)
    for order in (0, 1, 0, 2, 5, 5, 6, 3, 7):
        d.allocate_block(order)
        d.compare()
    for i in (0, 3, 1, 4, 2, 3, 0, 1, 0):  # an index into the blocks held, lowest first
        pfn, n = sorted(d.held)[i]
        d.held.remove((pfn, n))
        assert d.model.free_block(pfn, n.bit_length() - 1) == [True] * n
        machine.call("free_block", pfn * FRAME, n.bit_length() - 1)
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


def mapped_block(d: Driver) -> tuple[int, int]:
    """(order, head) of a block allocate_block(order) takes next from a map,
    not from the hint word's exempt blocks: the lowest block of the
    smallest order >= 5 whose lowest block is in its map."""
    exempt = {head for head, _ in d.model.exempt().blocks()}
    for k in range(5, ORDERS):
        heads = d.model.heads(k)
        if heads and heads[0] not in exempt:
            return k, heads[0]
    raise AssertionError("no order has its lowest block in a map")


@pytest.mark.machine(memory="32M")
def test_a_poked_block_taken_from_a_map_makes_the_maps_be_rebuilt(machine, kernel):
    """A debugger marks a frame used inside the block allocate_block takes
    next: the maps cannot know; the request finds the block not wholly free
    in the bitmap, rebuilds the maps from it (one record, one repair) and
    retries: the model's next block.  Then the maps hold again."""
    d = Driver(machine, kernel)
    order, block = mapped_block(d)
    poked = block + (1 << order) - 3
    poke_used(machine, kernel, poked)
    d.model.poke(poked)
    repairs = kernel.read_struct("buddy_stats", "buddy_stats")["repairs"]
    mark = machine.mark()
    got = d.allocate_block(order)
    assert got != block and d.model.repairs == 1
    assert [(r["repair"], r.int("pfn"), r.int("order")) for r in
            machine.records("BUDDY", since=mark)] == [("stale-block", block, order)]
    assert kernel.read_struct("buddy_stats", "buddy_stats")["repairs"] == repairs + 1
    d.compare()
    assert buddy_audit(kernel) == []


@pytest.mark.machine(memory="32M")
def test_a_rebuild_forgets_a_poked_single_frame_of_map_0(machine, kernel):
    """A single free frame above the hint word (its buddy used) is an
    order-0 block in map 0.  A debugger marks it used; a later repair (of
    another poked block) rebuilds every map from the bitmap, map 0 too: the
    frame's stale bit must go."""
    d = Driver(machine, kernel)
    d.allocate_page()  # the hint word partly used: the next block lies above it
    d.allocate_block(5)
    block, _ = d.held[-1]
    single, other = block + 6, block + 9  # two lone frames: the poke leaves the word not full
    for f in (single, other):
        assert d.model.free_page(f)
        machine.call("free_page", f * FRAME)
    assert read_buddy(kernel).maps[0].map >> single & 1, "an order-0 block in map 0"
    poke_used(machine, kernel, single)
    d.model.poke(single)
    order, head = mapped_block(d)
    poke_used(machine, kernel, head + 1)
    d.model.poke(head + 1)
    d.allocate_block(order)
    assert d.model.repairs == 1
    d.compare()
    assert buddy_audit(kernel) == []


@pytest.mark.machine(memory="32M")
def test_a_poke_leaves_other_requests_and_allocate_page_alone(machine, kernel):
    """Until the stale block is taken, requests are served from the maps as
    they are (the model keeps the poked frame free for them) and
    allocate_page reads the bitmap: a repair comes exactly when the model
    says a request took the stale block."""
    d = Driver(machine, kernel)
    order, block = mapped_block(d)
    poked = block + 1
    poke_used(machine, kernel, poked)
    d.model.poke(poked)
    mark = machine.mark()
    for k in range(order):
        d.allocate_block(k)
    d.allocate_page()
    d.allocate_pages(3)
    assert len(machine.records("BUDDY", since=mark)) == d.model.repairs
    for _ in range(8):  # then requests of the poked block's order reach it: repaired
        if not d.model.stale:
            break
        d.allocate_block(order)
    assert d.model.repairs == 1 == len(machine.records("BUDDY", since=mark))
    d.compare()


def empty_hint_word(d: Driver, order: int) -> None:
    """allocate_page until the hint word is empty and heads a free block of
    at least ``order`` (its own block, kept out of the maps)."""
    for _ in range(400):
        if d.model.exempt().hint_order >= order:
            return
        d.allocate_page()
    raise AssertionError(f"no empty hint word with an own block of order >= {order}")


def take_blocks_between(d: Driver, low: int, high: int) -> None:
    """allocate_block takes every free block of orders low .. high - 1 but
    the hint word's own block, smallest first (one call a block)."""
    for _ in range(200):
        ex = d.model.exempt()
        orders = [k for k in range(low, high) if any(h != ex.hint * 32 for h in d.model.heads(k))]
        if not orders:
            return
        d.allocate_block(orders[0])
        d.compare()
    raise AssertionError("too many blocks")


@pytest.mark.machine(memory="32M")
def test_a_smaller_request_splits_the_empty_hint_words_own_block(machine, kernel):
    """The hint word is empty and heads a block of order j; with no other
    block of orders 5 .. j-1 left, allocate_block(5) takes its first 32
    frames: the hint moves to the upper half, whose own block has order 5,
    and the halves in between become the front (one mask, no map); then
    everything goes back and merges into the blocks of the start."""
    d = Driver(machine, kernel)
    empty_hint_word(d, 7)
    j = d.model.exempt().hint_order
    head = d.model.exempt().hint * 32
    take_blocks_between(d, 5, j)
    d.compare()
    assert d.allocate_block(5) == head, "the own block: the only one of order 5 or more that fits"
    d.compare()
    assert d.model.exempt().hint_order == 5 and d.model.exempt().front_mask & (1 << 6)
    assert d.allocate_block(5) == head + 32, "then the new own block"
    d.compare()
    while d.held:
        d.free(len(d.held) - 1, as_block=True)
        d.compare()


@pytest.mark.machine(memory="32M")
@pytest.mark.parametrize("where", ["front", "own"])
def test_a_poked_front_or_own_block_is_repaired_when_taken(machine, kernel, where):
    """The hint word's exempt blocks are no map's entries, but a block taken
    from them is checked against the bitmap all the same: a frame poked
    inside one makes the request rebuild the maps and retry."""
    d = Driver(machine, kernel)
    if where == "own":
        empty_hint_word(d, 6)
        order = d.model.exempt().hint_order
        block = d.model.exempt().hint * 32
    else:
        if not d.model.exempt().front_mask:  # the boot's layout left none: make one
            empty_hint_word(d, 6)
            d.allocate_page()  # splits the empty word's own block into its front
        ex = d.model.exempt()
        assert ex.front_mask, "the hint word has a front"
        order = (ex.front_mask & -ex.front_mask).bit_length() - 1
        block = ((ex.hint * 32) >> order ^ 1) << order
        assert d.model.heads(order)[0] == block, "a front block is the lowest of its order"
    poked = block + (37 if where == "own" else 5)  # not in the hint word
    poke_used(machine, kernel, poked)
    d.model.poke(poked)
    mark = machine.mark()
    assert d.allocate_block(order) != block and d.model.repairs == 1
    assert [(r["repair"], r.int("pfn"), r.int("order")) for r in
            machine.records("BUDDY", since=mark)] == [("stale-block", block, order)]
    d.compare()
