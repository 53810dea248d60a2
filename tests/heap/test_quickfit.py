"""Quick fit in front of the large region, judged through the boundary tags
and the quick lists in guest RAM: a size gets a list after QUICK_LEARN frees
of it, a parked block stays USED to the tags and comes back at its address
for the next request of its size, a flush (under memory pressure, or
heap_trim) coalesces the parked blocks into one free block, and heap_check and
kfree catch what is done to a parked block."""

import itertools

import pytest

EINVAL = 22
SIZE = 6000
OVERHEAD = 32  # boundary tag + block header before each payload
BLOCK = 6048  # OVERHEAD + SIZE + the 4-byte red zone, rounded up to 16
LEARN = 4  # heap_large.c's QUICK_LEARN: the 4th free of a size is parked
CAP = 8  # QUICK_CAP (256 KiB / BLOCK would allow more)
USED, FLAGS = 0x1, 0xF
CANARY_QUICK = 0x9C1CB10C
CANARY_FREE = 0xF7EEB10C
POISON = b"\x6b" * 32
PAGE = 4096


def quick(kernel):
    return kernel.read_struct("heap_quick_stats", "heap_quick")


def slot_of(kernel, block=BLOCK):
    """The quick list holding blocks of `block` bytes (its index), or None."""
    sizes = quick(kernel)["block_size"]
    return sizes.index(block) if block in sizes else None


def tag_at(machine, payload):
    """(block bytes, USED bit) of the boundary tag before `payload`."""
    size_flags = machine.read_u32(payload - OVERHEAD)
    return size_flags & ~FLAGS, size_flags & USED


def learn(machine):
    """Teaches the heap SIZE: LEARN - 1 frees, which go to the tags."""
    blocks = [machine.call("kmalloc", SIZE) for _ in range(LEARN - 1)]
    for p in blocks:
        machine.call("kfree", p)


def test_the_fourth_free_of_a_size_is_parked_and_reused_at_its_address(machine, kernel):
    learn(machine)
    assert slot_of(kernel) is not None
    assert quick(kernel)["blocks"][slot_of(kernel)] == 0, "three frees: nothing parked yet"
    a = machine.call("kmalloc", SIZE)
    machine.call("kmalloc", SIZE)  # stays live: a never merges with the top
    machine.call("kfree", a)
    i = slot_of(kernel)
    before = quick(kernel)
    assert before["blocks"][i] == 1 and before["frees"][i] == LEARN
    assert tag_at(machine, a) == (BLOCK, USED), "parked: still USED to the boundary tags"
    assert machine.read_u32(a - 16) == CANARY_QUICK ^ a
    assert machine.read(a, 32) == POISON
    assert machine.call("kmalloc", SIZE) == a, "the same address for the same size"
    after = quick(kernel)
    assert (after["hits"], after["misses"], after["blocks"][i]) == (before["hits"] + 1,
                                                                   before["misses"], 0)
    assert machine.call("kmalloc", SIZE + 100) not in (0, a), "another size: a miss"
    assert quick(kernel)["misses"] == before["misses"] + 1
    assert machine.call("heap_check") == 0


def park(machine, count):
    """count adjacent blocks of SIZE, all parked, then a live block (so the
    run cannot merge with the top) and the heap taught SIZE after it."""
    blocks = [machine.call("kmalloc", SIZE) for _ in range(count)]
    end = machine.call("kmalloc", 100_000)  # another size: never parked
    assert all(q - p == BLOCK for p, q in itertools.pairwise(blocks)), "adjacent"
    learn(machine)
    for p in blocks:
        machine.call("kfree", p)
    return blocks, end


@pytest.mark.machine(memory="16M")
def test_an_allocation_that_would_fail_flushes_the_lists_first(machine, kernel):
    blocks, end = park(machine, CAP)
    assert quick(kernel)["blocks"][slot_of(kernel)] == CAP
    flushes = quick(kernel)["flushes"]
    taken = machine.call("agent_pmm_exhaust", timeout=120)
    assert taken > 0 and kernel.pmm_stats()["free_frames"] == 0
    # Fits only in the parked blocks merged: the top block has no frames left
    # to map, the run of CAP blocks releases its interior pages when merged.
    p = machine.call("kmalloc", 40_000)
    assert p == blocks[0], "carved from the coalesced run"
    q = quick(kernel)
    assert (q["flushes"], q["blocks"][slot_of(kernel)]) == (flushes + 1, 0)
    need = (OVERHEAD + 40_000 + 4 + 15) & ~15
    assert tag_at(machine, p) == (need, USED)
    assert tag_at(machine, p + need) == (CAP * BLOCK - need, 0), "the rest of the run, free"
    assert machine.call("heap_check") == 0
    machine.call("kfree", p)
    machine.call("agent_pmm_release", timeout=120)
    machine.call("kfree", end)


def test_heap_trim_flushes_the_lists_into_one_free_block(machine, kernel):
    blocks, end = park(machine, CAP)
    assert kernel.heap_stats()["largest_free"] > CAP * BLOCK, "the top block, before"
    machine.call("heap_trim")
    assert quick(kernel)["blocks"][slot_of(kernel)] == 0
    assert tag_at(machine, blocks[0]) == (CAP * BLOCK, 0)
    assert machine.read_u32(blocks[0] - 16) == CANARY_FREE ^ blocks[0]
    # the top block went with the trim: the coalesced run is the largest
    assert kernel.heap_stats()["largest_free"] == CAP * BLOCK - OVERHEAD - 4
    machine.call("kfree", end)


def test_a_list_at_its_cap_is_flushed_before_the_next_block(machine, kernel):
    blocks, end = park(machine, CAP + 1)
    i = slot_of(kernel)
    q = quick(kernel)
    assert (q["blocks"][i], q["flushed_blocks"]) == (1, CAP), "the ninth went on alone"
    assert tag_at(machine, blocks[0]) == (CAP * BLOCK, 0), "the eight flushed, merged"
    assert tag_at(machine, blocks[CAP]) == (BLOCK, USED)
    machine.call("kfree", end)


def test_a_second_free_of_a_parked_block_is_a_double_free(machine, kernel):
    learn(machine)
    a = machine.call("kmalloc", SIZE)
    machine.call("kmalloc", SIZE)  # stays live: a never merges with the top
    machine.call("kfree", a)
    errors = kernel.heap_error_counts()["double-free"]
    mark = machine.mark()
    machine.call("kfree", a)
    assert [(r["error"], r.int("addr")) for r in machine.records("HEAP", since=mark)] == \
        [("double-free", a)]
    assert kernel.heap_error_counts()["double-free"] == errors + 1
    assert quick(kernel)["blocks"][slot_of(kernel)] == 1, "listed once, not twice"
    assert machine.call("kmalloc", SIZE) == a
    assert machine.call("kmalloc", SIZE) != a


@pytest.mark.parametrize("damage, what", [
    ("canary", "quick-canary"), ("payload", "quick-poison"), ("count", "quick-count"),
    ("link", "quick-list")])
def test_heap_check_catches_damage_to_a_parked_block(machine, kernel, damage, what):
    learn(machine)
    a = machine.call("kmalloc", SIZE)
    machine.call("kmalloc", SIZE)  # stays live: a never merges with the top
    machine.call("kfree", a)
    i = slot_of(kernel)
    next_free = kernel.layout("tag").fields["next_free"].offset
    where = {"canary": a - 16, "payload": a + 8, "link": a - OVERHEAD + next_free,
             "count": machine.symbol("heap_quick") + kernel.layout(
                 "heap_quick_stats").fields["blocks"].offset + 4 * i}[damage]
    old = machine.read_u32(where)
    machine.write_u32(where, old + 1)
    mark = machine.mark()
    assert machine.call("heap_check") == -EINVAL
    addr = {"canary": a, "payload": a, "count": a - OVERHEAD, "link": 1}[damage]
    assert [(r["what"], r.int("addr")) for r in machine.records("HEAP", since=mark)] == \
        [(what, addr)]
    machine.write_u32(where, old)
    assert machine.call("heap_check") == 0


@pytest.mark.machine(memory="16M")
def test_reclaim_flushes_the_lists_first_and_counts_the_pages_they_give_back(machine, kernel):
    """User pressure (reclaim_frames, as a user allocation calls it) with
    the PMM exhausted: the parked run merges into one free block whose
    interior pages (past its tag, header and 32 poisoned bytes, before the
    page holding the next block's start) go back, and reclaim counts them."""
    blocks, end = park(machine, CAP)
    assert machine.call("agent_pmm_exhaust", timeout=120) > 0
    start = blocks[0] - OVERHEAD
    first = (start + OVERHEAD + 32 + PAGE - 1) & ~(PAGE - 1)
    pages = (((start + CAP * BLOCK) & ~(PAGE - 1)) - first) // PAGE
    assert pages > 0
    assert machine.call("reclaim_frames", 1) == pages
    assert kernel.pmm_stats()["free_frames"] == pages
    assert quick(kernel)["blocks"][slot_of(kernel)] == 0
    assert tag_at(machine, blocks[0]) == (CAP * BLOCK, 0)
    machine.call("agent_pmm_release", timeout=120)
    machine.call("kfree", end)
