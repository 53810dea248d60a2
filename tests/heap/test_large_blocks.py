"""The large region's rules, judged exactly through the boundary tags in
guest RAM: first fit reuses a freed block of the same size at its address,
the region grows by what its free top block lacks, a shrink in place frees
the tail, heap_debug=full poisons no further than the block, the statistics'
largest free payload and the leak report follow the tags, and heap_check
finds a free block its bin list lost."""

import pytest

EINVAL = 22
SIZE = 5000  # a large block (over HEAP_SMALL_MAX)
OVERHEAD = 32  # boundary tag + block header before each payload
BLOCK = 5040  # the block SIZE takes: OVERHEAD + SIZE + the 4-byte red zone, 16-aligned
USED = 0x1
FLAGS = 0xF


def tag_at(machine, tag):
    """(block bytes, flags, prev_size) of the boundary tag at `tag`, from guest RAM."""
    size_flags = machine.read_u32(tag)
    return size_flags & ~FLAGS, size_flags & FLAGS, machine.read_u32(tag + 4)


def test_a_freed_block_is_reused_by_a_request_of_its_size(machine):
    a, b = machine.call("kmalloc", SIZE), machine.call("kmalloc", SIZE)
    machine.call("kfree", a)  # b keeps it from merging with the free space above
    assert machine.call("kmalloc", SIZE) == a, "it fits exactly: first fit takes it"
    assert tag_at(machine, a - OVERHEAD) == (BLOCK, USED, 0)
    assert tag_at(machine, b - OVERHEAD) == (BLOCK, USED, BLOCK), "b's boundary tag of a"
    assert machine.call("heap_check") == 0
    for p in (a, b):
        machine.call("kfree", p)


def test_a_free_block_missing_from_its_bin_is_reported(machine, kernel):
    blocks = [machine.call("kmalloc", SIZE) for _ in range(4)]
    a, c = blocks[0], blocks[2]
    machine.call("kfree", a)
    machine.call("kfree", c)  # same size, same bin, inserted in front: c -> a
    tag = kernel.layout("tag")
    overhead = tag.size + kernel.sizeof("struct block_header")
    link = c - overhead + tag.fields["next_free"].offset
    assert machine.read_u32(link) == a - overhead, "c's bin link is a"
    a_next = machine.read_u32(a - overhead + tag.fields["next_free"].offset)
    machine.write_u32(link, a_next)  # the list skips a
    mark = machine.mark()
    assert machine.call("heap_check") == -EINVAL
    assert [(r["what"], r.int("addr")) for r in machine.records("HEAP", since=mark)] == \
        [("free-list", a)]
    machine.write_u32(link, a - overhead)
    assert machine.call("heap_check") == 0
    for p in (blocks[1], blocks[3]):
        machine.call("kfree", p)


GROW_MIN = 256 << 10  # the region grows (virtually) by at least this
PAGE = 4096


def test_the_region_grows_by_what_the_free_top_block_lacks(machine, kernel):
    base = kernel.u32("harness_const_LARGE_BASE")
    top = "'heap_large.c'::top"
    assert kernel.u32(top) == base, "the region starts empty"
    a = machine.call("kmalloc", SIZE)
    assert kernel.u32(top) == base + GROW_MIN
    have = GROW_MIN - BLOCK  # the free block above a, at the top
    big = 600_000
    need = (OVERHEAD + big + 4 + 15) & ~15
    assert need - have > GROW_MIN, "so the growth is need - have, rounded up to a page"
    p = machine.call("kmalloc", big)
    assert p == a + BLOCK, "the free top block is extended, not a new one made"
    grown = (need - have + PAGE - 1) & ~(PAGE - 1)
    assert kernel.u32(top) == base + GROW_MIN + grown
    rest = GROW_MIN + grown - BLOCK - need
    size, flags, prev_size = tag_at(machine, p - OVERHEAD + need)
    assert (size, flags & USED, prev_size) == (rest, 0, need), "the free rest up to top"
    for q in (a, p):
        machine.call("kfree", q)


@pytest.mark.machine(cmdline="heap_debug=full")
def test_heap_debug_full_poisons_a_large_block_up_to_its_end_only(machine):
    a, b = machine.call("kmalloc", SIZE), machine.call("kmalloc", SIZE)
    machine.call("kfree", a)
    payload = BLOCK - OVERHEAD  # all of a's block after its tag and header
    assert machine.read(a, payload) == b"\x6b" * payload
    assert tag_at(machine, b - OVERHEAD) == (BLOCK, USED, BLOCK), "b's tag is untouched"
    assert machine.read_u32(b - 16 + 4) == SIZE, "and so is b's header"
    machine.call("kfree", b)


def test_shrinking_in_place_frees_the_tail_before_a_used_block(machine):
    a, b = machine.call("kmalloc", SIZE), machine.call("kmalloc", SIZE)
    assert machine.call("krealloc", a, 1000) == a
    need = (OVERHEAD + 1000 + 4 + 15) & ~15
    assert tag_at(machine, a - OVERHEAD) == (need, USED, 0)
    size, flags, prev_size = tag_at(machine, a - OVERHEAD + need)
    assert (size, flags & USED, prev_size) == (BLOCK - need, 0, need), "the tail is free"
    assert tag_at(machine, b - OVERHEAD) == (BLOCK, USED, BLOCK - need)
    for p in (a, b):
        machine.call("kfree", p)


CANARY_LIVE = 0xA110C8ED
CANARY_FREE = 0xF7EEB10C
REDZONE = 4


def test_largest_free_is_the_biggest_free_blocks_payload(machine, kernel):
    a, b = machine.call("kmalloc", SIZE), machine.call("kmalloc", SIZE)
    machine.call("kfree", a)  # a free block of BLOCK below b, a bigger one above
    top_free = GROW_MIN - 2 * BLOCK
    assert tag_at(machine, b - OVERHEAD + BLOCK)[0] == top_free
    assert kernel.heap_stats()["largest_free"] == top_free - OVERHEAD - REDZONE
    machine.call("kfree", b)


def test_a_free_block_whose_header_looks_live_is_no_leak(machine):
    a, b = machine.call("kmalloc", SIZE), machine.call("kmalloc", SIZE)
    mark = machine.call("heap_mark")
    machine.call("kfree", a)
    header = a - 16  # canary, size, caller, epoch
    assert machine.read_u32(header) == CANARY_FREE ^ a
    machine.write_u32(header, CANARY_LIVE ^ a)  # a stray write makes it look live
    machine.write_u32(header + 12, mark)        # and allocated after the mark
    log = machine.mark()
    assert machine.call("heap_leak_report", mark) == 0, "its tag says free: no leak"
    assert machine.records("LEAK", since=log) == []
    machine.write_u32(header, CANARY_FREE ^ a)
    machine.call("kfree", b)
