"""A live block's header found corrupt at kfree: the report, and the slab's
free list rebuilt from the canaries in slot order.

The block size is one no slab holds at kernel_ready, so the five blocks are
the first five slots of a fresh slab and every other slot of it is free."""

SIZE = 700  # the 768-byte class
HEADER = 16  # struct block_header


def fresh_slab_blocks(machine, kernel, count):
    blocks = [machine.call("kmalloc", SIZE) for _ in range(count)]
    slot = blocks[1] - blocks[0]
    assert blocks == [blocks[0] + i * slot for i in range(count)], "consecutive slots"
    base = blocks[0] & ~(16 * 1024 - 1)
    assert blocks[0] == base + kernel.sizeof("struct slab") + HEADER, "the slab's first slot"
    return blocks


def corrupt_and_free(machine, p):
    machine.write(p - HEADER, b"\xde\xad\xbe\xef")  # the canary
    mark = machine.mark()
    machine.call("agent_kfree", p)
    return machine.records("HEAP", since=mark)


def test_a_corrupt_header_is_reported_without_a_size(machine, kernel):
    """The header's size cannot be trusted, so the report gives none."""
    p = fresh_slab_blocks(machine, kernel, 2)[0]
    records = corrupt_and_free(machine, p)
    assert [r.fields.keys() for r in records] == [{"error", "addr", "caller"}], records
    assert (records[0]["error"], records[0].int("addr")) == ("header-corrupt", p)
    assert kernel.heap_error_counts()["header-corrupt"] == 1


def test_the_rebuilt_free_list_hands_out_free_slots_lowest_first(machine, kernel):
    """Slots 1 and 3 freed (3 last, so it heads the old list, linked to 1),
    then slot 2's corrupt header triggers the rebuild: the list is relinked
    in slot order, so slot 1, slot 3, then slot 5 (the first never used) come
    next, and slot 2 (quarantined) never does."""
    blocks = fresh_slab_blocks(machine, kernel, 5)
    machine.call("kfree", blocks[1])
    machine.call("kfree", blocks[3])
    assert [r["error"] for r in corrupt_and_free(machine, blocks[2])] == ["header-corrupt"]
    slot = blocks[1] - blocks[0]
    taken = [machine.call("kmalloc", SIZE) for _ in range(3)]
    assert taken == [blocks[1], blocks[3], blocks[4] + slot]
    assert kernel.heap_stats()["quarantined"] == 1
