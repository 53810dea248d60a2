"""Quick fit's edges, judged through the boundary tags, the block headers and
heap_quick in guest RAM: only a block of exactly the size a request needs is
parked (one handed out whole, larger than asked for, goes back to the tags);
with every list taken, a new size gets the empty list with the fewest frees
and never one holding blocks; a parked block written to is caught when
quick_take meets it (reported, quarantined) and the next one is handed out."""

from tests.heap.test_quickfit import (
    BLOCK,
    CANARY_FREE,
    LEARN,
    OVERHEAD,
    SIZE,
    USED,
    quick,
    slot_of,
    tag_at,
)

LISTS = 8  # HEAP_QUICK_LISTS
CANARY_QUARANTINED = 0xBADB10C5
CANARY_LIVE = 0xA110C8ED
# A request whose block needs 16 bytes less than BLOCK: carved from a free
# block of BLOCK bytes, it takes all of it (the 16 left are under MIN_BLOCK).
SHORT = BLOCK - 16 - OVERHEAD - 4
BARRIER = 100_000  # a live block of another size after the one under test


def test_a_block_handed_out_whole_is_never_parked(machine, kernel):
    a = machine.call("kmalloc", SIZE)
    machine.call("kmalloc", BARRIER)  # a's neighbours stay in use: it never merges
    machine.call("kfree", a)  # one free of BLOCK: to the tags
    for _ in range(LEARN + 1):  # more frees of a BLOCK-sized block than it takes to learn one
        p = machine.call("kmalloc", SHORT)
        assert p == a, "the free block first fit finds"
        assert tag_at(machine, p) == (BLOCK, USED), "all of it: the rest is under MIN_BLOCK"
        machine.call("kfree", p)
        assert tag_at(machine, p) == (BLOCK, 0), "back to the boundary tags, not parked"
        assert machine.read_u32(p - 16) == CANARY_FREE ^ p
    q = quick(kernel)
    assert sum(q["blocks"]) == 0
    assert q["frees"][slot_of(kernel)] == 1, "only the exact-size free was counted"
    assert machine.call("heap_check") == 0


SEPARATOR = 20_000  # live between the blocks under test: a freed one never merges


def allocate(machine, plan):
    """Every block the test frees, allocated before the first free (so no
    request is carved from a freed block), each followed by a live
    separator: size -> its blocks."""
    blocks = {}
    for size, count in plan.items():
        blocks[size] = []
        for _ in range(count):
            blocks[size].append(machine.call("kmalloc", size))
            machine.call("kmalloc", SEPARATOR)
    return blocks


def free_times(machine, blocks, size, times):
    """Frees ``times`` of the blocks of ``size`` bytes allocated beforehand."""
    for _ in range(times):
        machine.call("kfree", blocks[size].pop())


def need(size):
    return (OVERHEAD + size + 4 + 15) & ~15


def test_a_new_size_takes_the_empty_list_with_the_fewest_frees_never_a_full_one(
        machine, kernel):
    sizes = [3000 + 1000 * k for k in range(LISTS + 3)]  # large blocks, not slab classes
    counts = [LEARN] * 4 + [3 + LEARN, 1, 2, 3 + LEARN, LEARN, 1 + LEARN, LEARN]
    blocks = allocate(machine, dict(zip(sizes, counts, strict=True)))
    # Eight sizes, each given the lowest unused list: the first four parked
    # (LEARN frees: one block each), the others left empty with 3, 1, 2, 3 frees.
    for size, times in zip(sizes, [LEARN] * 4 + [3, 1, 2, 3], strict=False):
        free_times(machine, blocks, size, times)
    q = quick(kernel)
    assert q["block_size"] == [need(s) for s in sizes[:LISTS]]
    assert (q["blocks"], q["frees"]) == ([1] * 4 + [0] * 4, [LEARN] * 4 + [3, 1, 2, 3])
    free_times(machine, blocks, sizes[8], 1)
    q = quick(kernel)
    assert q["block_size"][5] == need(sizes[8]), "the empty list with the fewest frees"
    assert (q["blocks"], q["frees"]) == ([1] * 4 + [0] * 4, [LEARN] * 4 + [3, 1, 2, 3])
    free_times(machine, blocks, sizes[8], LEARN - 1)  # now parked there
    free_times(machine, blocks, sizes[9], 1)
    q = quick(kernel)
    assert q["block_size"][6] == need(sizes[9]), "list 5 holds a block: the next fewest"
    assert q["frees"][5:7] == [LEARN, 1]
    for size, slot in [(sizes[9], 6), (sizes[4], 4), (sizes[7], 7)]:
        free_times(machine, blocks, size, LEARN)  # every list holds a block now
        assert quick(kernel)["block_size"][slot] == need(size)
    before = quick(kernel)
    assert all(before["blocks"])
    free_times(machine, blocks, sizes[10], LEARN)
    after = quick(kernel)
    assert (after["block_size"], after["blocks"], after["frees"]) == \
        (before["block_size"], before["blocks"], before["frees"]), \
        "no list for the eleventh size: its blocks go to the tags"
    assert machine.call("heap_check") == 0


def test_quick_take_quarantines_a_block_written_while_parked_and_hands_out_the_next(
        machine, kernel):
    blocks = [machine.call("kmalloc", SIZE) for _ in range(LEARN + 1)]
    machine.call("kmalloc", BARRIER)
    for p in blocks:
        machine.call("kfree", p)  # the fourth and fifth are parked, the fifth on top
    i = slot_of(kernel)
    first, top = blocks[LEARN - 1], blocks[LEARN]
    assert quick(kernel)["blocks"][i] == 2
    machine.write(top + 8, b"\x00")  # a write after free, inside the poisoned prefix
    before, quarantined = quick(kernel), kernel.heap_stats()["quarantined"]
    errors = kernel.heap_error_counts()["use-after-free"]
    mark = machine.mark()
    assert machine.call("kmalloc", SIZE) == first, "the next parked block, intact"
    assert [(r["error"], r.int("addr")) for r in machine.records("HEAP", since=mark)] == \
        [("use-after-free", top)]
    assert kernel.heap_error_counts()["use-after-free"] == errors + 1
    assert kernel.heap_stats()["quarantined"] == quarantined + 1
    assert machine.read_u32(top - 16) == CANARY_QUARANTINED ^ top
    assert tag_at(machine, top) == (BLOCK, USED), "taken out of service for good"
    after = quick(kernel)
    assert (after["blocks"][i], after["hits"]) == (0, before["hits"] + 1)
    assert machine.read_u32(first - 16) == CANARY_LIVE ^ first, "handed out, live"
    assert machine.call("kmalloc", SIZE) not in (first, top), "the quarantined block stays out"
    assert machine.call("heap_check") == 0
