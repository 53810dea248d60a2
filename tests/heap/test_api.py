"""The kmalloc family's contract, through GDB inferior calls."""

import itertools

import pytest

from tests.heap.rules import HEAP_SMALL_MAX, RED_ZONE, realloc_stays

PAGE = 4096
HEAP_BASE, HEAP_LIMIT = 0xF0000000, 0xFF000000


@pytest.mark.parametrize("size", [1, 7, 8, 15, 16, 17, 100, 2048, 2049, 5000, 70000])
def test_alignment_and_range(machine, size):
    p = machine.call("kmalloc", size)
    assert HEAP_BASE <= p < HEAP_LIMIT
    assert p % (16 if size >= 16 else 8) == 0
    machine.write(p, bytes([0xAB]) * size if size < 100000 else b"")
    assert machine.read(p, min(size, 4096)) == bytes([0xAB]) * min(size, 4096)


@pytest.mark.parametrize("size", [1, 100, 4096, 10000])
def test_kmalloc_aligned_is_page_aligned(machine, size):
    p = machine.call("kmalloc_aligned", size)
    assert p % PAGE == 0 and HEAP_BASE <= p < HEAP_LIMIT
    machine.write(p, b"\x5a" * min(size, 4096))
    machine.call("kfree", p)


def test_kmalloc_zero_is_null_and_kfree_null_is_a_no_op(machine, kernel):
    before = kernel.heap_error_counts()
    assert machine.call("kmalloc", 0) == 0
    machine.call("kfree", 0)
    assert kernel.heap_error_counts() == before


def test_results_never_overlap(machine):
    blocks = []
    for size in (8, 24, 100, 600, 2000, 3000, 9000):
        for _ in range(5):
            blocks.append((machine.call("kmalloc", size), size))
    spans = sorted(blocks)
    for (a, sa), (b, _) in itertools.pairwise(spans):
        assert a + sa <= b


def test_kcalloc_zeroes_and_refuses_overflow(machine):
    p = machine.call("kmalloc", 256)
    machine.write(p, b"\xff" * 256)
    machine.call("kfree", p)  # the next kcalloc(256) reuses it
    q = machine.call("kcalloc", 16, 16)
    assert machine.read(q, 256) == bytes(256)
    assert machine.call("kcalloc", 0x10000, 0x10001) == 0, "num * size overflows"
    assert machine.call("kcalloc", 0xFFFFFFFF, 2) == 0


def test_krealloc_keeps_contents_and_handles_null_and_zero(machine):
    p = machine.call("kmalloc", 40)
    machine.write(p, bytes(range(40)))
    q = machine.call("krealloc", p, 3000)  # small to large: moves
    assert machine.read(q, 40) == bytes(range(40))
    r = machine.call("krealloc", q, 10)  # shrinks in place
    assert r == q and machine.read(r, 10) == bytes(range(10))
    assert machine.call("krealloc", 0, 64) != 0, "krealloc(NULL, n) is kmalloc"
    assert machine.call("krealloc", r, 0) == 0, "krealloc(p, 0) frees"
    mark = machine.mark()
    machine.call("kfree", r)
    assert machine.records("HEAP", since=mark)[0]["error"] == "double-free"


def test_krealloc_shrinks_a_small_block_in_place_down_to_half_its_slot(machine, kernel):
    """A slab block of at most HEAP_SMALL_MAX / 2 bytes stays where it is for
    a new size down to half its slot's usable bytes, and moves below that
    (rules.realloc_stays): the boundary from both sides, contents kept."""
    capacities = [c for c in kernel.heap_stats()["class_size"] if c]
    capacity = max(c for c in capacities if c - RED_ZONE <= HEAP_SMALL_MAX // 2)
    usable = capacity - RED_ZONE
    assert realloc_stays(capacity, usable // 2) and not realloc_stays(capacity, usable // 2 - 1)
    p = machine.call("kmalloc", usable)
    machine.write(p, bytes(range(256)) * (usable // 256) + bytes(usable % 256))
    assert machine.call("krealloc", p, usable // 2) == p, "half the slot: in place"
    q = machine.call("krealloc", p, usable // 2 - 1)
    assert q != p, "less than half: a smaller class"
    assert machine.read(q, usable // 2 - 1) == (bytes(range(256)) * 8)[:usable // 2 - 1]
    machine.call("kfree", q)


def test_krealloc_keeps_a_big_small_block_in_place_below_half_its_slot(machine, kernel):
    """Over HEAP_SMALL_MAX / 2 bytes a slab block stays where it is even when
    that wastes more than half its slot: the top class's slot holds 2060
    bytes, and 1025 stays in it (the half is 1030) while 1024 moves."""
    usable = max(c for c in kernel.heap_stats()["class_size"] if c) - RED_ZONE
    big = HEAP_SMALL_MAX // 2 + 1
    assert big < usable // 2, "the rule under test decides, not the half-slot one"
    assert realloc_stays(usable + RED_ZONE, big) and not realloc_stays(usable + RED_ZONE, big - 1)
    p = machine.call("kmalloc", HEAP_SMALL_MAX)  # the top class; more is a large block
    assert machine.call("krealloc", p, big) == p
    q = machine.call("krealloc", p, big - 1)
    assert q != p
    machine.call("kfree", q)


def test_krealloc_grows_large_blocks_in_place(machine):
    p = machine.call("kmalloc", 5000)
    machine.write(p, b"x" * 5000)
    assert machine.call("krealloc", p, 9000) == p, "the space after it is free"
    assert machine.read(p, 5000) == b"x" * 5000


def test_krealloc_of_a_foreign_pointer_is_refused(machine, kernel):
    scratch = machine.symbol("agent_scratch")
    before = machine.read(scratch, 16)
    assert machine.call("krealloc", scratch, 64) == 0
    assert kernel.heap_error_counts()["invalid-pointer"] == 1
    assert machine.read(scratch, 16) == before


def test_freed_memory_is_poisoned(machine):
    p = machine.call("kmalloc", 64)
    machine.write(p, b"\x00" * 64)
    machine.call("kfree", p)
    assert machine.read(p, 32) == b"\x6b" * 32


@pytest.mark.machine(cmdline="heap_debug=full")
def test_heap_debug_full_poisons_the_whole_block(machine):
    p = machine.call("kmalloc", 500)
    machine.write(p, b"\x00" * 500)
    machine.call("kfree", p)
    assert machine.read(p, 500) == b"\x6b" * 500
    assert machine.call("kmalloc", 500) == p, "and hands it out again after checking it"


def test_statistics_follow_allocations(machine, kernel):
    before = kernel.heap_stats()
    blocks = [machine.call("kmalloc", n) for n in (10, 100, 1000, 10000)]
    during = kernel.heap_stats()
    assert during["bytes_requested"] - before["bytes_requested"] == 11110
    assert during["live_blocks"] - before["live_blocks"] == 4
    assert during["bytes_in_use"] - before["bytes_in_use"] >= 11110
    assert during["bytes_mapped"] >= during["bytes_in_use"]
    for b in blocks:
        machine.call("kfree", b)
    after = kernel.heap_stats()
    assert after["bytes_requested"] == before["bytes_requested"]
    assert after["live_blocks"] == before["live_blocks"]
