"""A freed large block's bookkeeping, read from its boundary tag in guest
RAM: merging into a free block before it keeps what both knew (all mapped,
nothing mapped past the end: CLEAN), and each free block sits in the bin of
its size's power of two (bin i holds blocks of 16 << i to 32 << i bytes)."""

SIZE = 5000  # a large block (over HEAP_SMALL_MAX), well under RELEASE_MIN
OVERHEAD = 32  # boundary tag + block header before each payload
BLOCK = 5040  # the block SIZE takes: OVERHEAD + SIZE + the 4-byte red zone, 16-aligned
USED, POISONED, CLEAN, FLAGS = 0x1, 0x2, 0x4, 0xF
BINS = 24


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
    sizes = [5000, 9000, 40_000]  # blocks 5040, 9040, 40048: bins 8, 9, 11
    blocks = []
    for size in sizes:  # each freed block kept apart from the next by a live one
        blocks.append((machine.call("kmalloc", size), size))
        machine.call("kmalloc", SIZE)  # large: slab blocks live elsewhere
    for p, size in blocks:
        machine.call("kfree", p)
        block = machine.read_u32(p - OVERHEAD) & ~FLAGS
        want = (block >> 4).bit_length() - 1
        assert 16 << want <= block < 32 << want
        assert machine.read_u32(bins + 4 * want) == p - OVERHEAD, f"{block} bytes: bin {want}"
        assert kernel.u32("'heap_large.c'::bin_map") >> want & 1
