"""A freed large block's bookkeeping, read from its boundary tag in guest
RAM: merging into a free block before it keeps what both knew (all mapped,
nothing mapped past the end: CLEAN), and each free block sits in the bin of
its size's power of two (bin i holds blocks of 16 << i to 32 << i bytes)."""

SIZE = 5000  # a large block (over HEAP_SMALL_MAX), well under RELEASE_MIN
OVERHEAD = 32  # boundary tag + block header before each payload
BLOCK = 5040  # the block SIZE takes: OVERHEAD + SIZE + the 4-byte red zone, 16-aligned
USED, POISONED, CLEAN, FLAGS = 0x1, 0x2, 0x4, 0xF


def test_a_block_freed_after_its_free_neighbour_merges_all_mapped_and_clean(machine, kernel):
    a, b, c = (machine.call("kmalloc", SIZE) for _ in range(3))
    assert (b, c) == (a + BLOCK, a + 2 * BLOCK), "three neighbours; c keeps the top away"
    tag = a - OVERHEAD
    mapped_end = a + kernel.layout("block_header").fields["size"].offset - 16
    machine.call("kfree", a)
    assert machine.read_u32(tag) == BLOCK | POISONED | CLEAN
    assert machine.read_u32(mapped_end) == tag + BLOCK, "a live block is mapped all through"
    machine.call("kfree", b)  # merges into a, whose mapping reaches b
    assert machine.read_u32(tag) == 2 * BLOCK | POISONED | CLEAN, "all mapped: still clean"
    assert machine.read_u32(mapped_end) == tag + 2 * BLOCK, "mapped through b's end"
    machine.call("kfree", c)


def test_free_blocks_sit_in_the_bin_of_their_power_of_two(machine, kernel):
    bins = machine.symbol("'heap_large.c'::bins")
    # (request, its block, that block's bin = floor(log2(block / 16)))
    cases = [(5000, 5040, 8), (9000, 9040, 9), (40_000, 40_048, 11)]
    payloads = []
    for size, _, _ in cases:  # each freed block kept apart from the next by a live one
        payloads.append(machine.call("kmalloc", size))
        machine.call("kmalloc", SIZE)  # large: slab blocks live elsewhere
    for p, (_, block, bin_) in zip(payloads, cases, strict=True):
        machine.call("kfree", p)
        assert machine.read_u32(p - OVERHEAD) & ~FLAGS == block
        assert 16 << bin_ <= block < 32 << bin_
        assert machine.read_u32(bins + 4 * bin_) == p - OVERHEAD, f"{block} bytes: bin {bin_}"
        assert kernel.u32("'heap_large.c'::bin_map") >> bin_ & 1
