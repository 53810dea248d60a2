"""kmalloc_contig: a buddy block, physically contiguous and reached through
the direct map (the harness's own page-table walk says so), its first frame
flagged FRAME_CONTIG in the frame table while it is allocated so kfree
gives the whole block back; anything else kfree is handed in the direct
map stays a bad pointer."""

import pytest

from harness.decode.buddy import FRAME_CONTIG, MAX_ORDER
from harness.targets.mmverify.pmm_audit import buddy_model, read_buddy
from tests.pmm.poke import poke_used

FRAME = 4096


def contig_flag(kernel, pfn: int) -> bool:
    return bool(kernel.frame_table()[pfn].flags & FRAME_CONTIG)


def maps(kernel) -> list[int]:
    return [om.map for om in read_buddy(kernel).maps]


def heap_errors(machine, mark) -> list[tuple[str, int]]:
    return [(r["error"], r.int("addr")) for r in machine.records("HEAP", since=mark)]


@pytest.mark.machine(memory="32M")
def test_a_contiguous_block_is_direct_mapped_and_kfree_gives_it_back(machine, kernel):
    model = buddy_model(kernel)
    before = maps(kernel)
    expected = model.allocate_block(2)  # 3 pages and a byte: 4 frames
    p = machine.call("kmalloc_contig", 3 * FRAME + 1)
    assert p == kernel.kernel_base + expected * FRAME
    space = machine.address_space()
    assert [space.translate(p + i * FRAME).pa for i in range(4)] == \
        [(expected + i) * FRAME for i in range(4)], "one physical run, in order"
    used, _ = kernel.pmm_bitmaps()
    assert all(used[expected + i] for i in range(4))
    assert contig_flag(kernel, expected)
    assert not any(contig_flag(kernel, expected + i) for i in range(1, 4)), "the head alone"
    machine.write(p, b"contig" * 2000)  # all four pages are writable memory
    machine.call("kfree", p)
    assert maps(kernel) == before, "the block is back where it was"
    assert not contig_flag(kernel, expected)


@pytest.mark.machine(memory="32M")
def test_kfree_twice_or_of_a_plain_frame_is_a_bad_pointer(machine, kernel):
    p = machine.call("kmalloc_contig", FRAME)
    machine.call("kfree", p)
    before = maps(kernel)
    mark = machine.mark()
    machine.call("kfree", p)
    assert heap_errors(machine, mark) == [("invalid-pointer", p)]
    assert maps(kernel) == before
    frame = machine.call("allocate_page")
    mark = machine.mark()
    machine.call("kfree", kernel.kernel_base + frame)
    assert heap_errors(machine, mark) == [("invalid-pointer", kernel.kernel_base + frame)]
    assert kernel.pmm_bitmaps()[0][frame // FRAME], "the frame is still allocated"
    machine.call("free_page", frame)


@pytest.mark.machine(memory="32M")
def test_sizes_past_the_largest_block_or_zero_are_null(machine, kernel):
    failed = kernel.heap_stats()["failed_allocations"]
    assert machine.call("kmalloc_contig", (FRAME << MAX_ORDER) + 1) == 0
    assert kernel.heap_stats()["failed_allocations"] == failed + 1
    assert machine.call("kmalloc_contig", 0) == 0
    assert kernel.heap_stats()["failed_allocations"] == failed + 1, "0 bytes: not a failure"
    p = machine.call("kmalloc_contig", FRAME << MAX_ORDER)
    assert p and (p - kernel.kernel_base) % (FRAME << MAX_ORDER) == 0, "aligned to its size"
    machine.call("kfree", p)


@pytest.mark.machine(memory="32M")
def test_a_contiguous_block_survives_the_maps_being_rebuilt(machine, kernel):
    """A repair rebuilds every map from the bitmap: the FRAME_CONTIG flag on
    a used block's first frame must stay, or kfree would refuse it."""
    p = machine.call("kmalloc_contig", 4 * FRAME)
    pfn = (p - kernel.kernel_base) // FRAME
    model = buddy_model(kernel)
    exempt = {head for head, _ in model.exempt().blocks()}
    order, head = next((k, model.heads(k)[0]) for k in range(5, MAX_ORDER + 1)
                       if model.heads(k) and model.heads(k)[0] not in exempt)
    victim = head + 1  # inside the block allocate_block(order) takes next, from its map
    poke_used(machine, kernel, victim)
    mark = machine.mark()
    block = machine.call("allocate_block", order)
    assert [r["repair"] for r in machine.records("BUDDY", since=mark)] == ["stale-block"]
    assert contig_flag(kernel, pfn)
    mark = machine.mark()
    machine.call("kfree", p)
    assert heap_errors(machine, mark) == []
    assert not kernel.pmm_bitmaps()[0][pfn], "the block is free again"
    machine.call("free_block", block, order)
    machine.call("free_page", victim * FRAME)  # the poked frame, used in the bitmap
