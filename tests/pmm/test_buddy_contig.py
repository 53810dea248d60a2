"""kmalloc_contig: a buddy block, physically contiguous and reached through
the direct map (the harness's own page-table walk says so), marked on its
first frame so kfree gives the whole block back; anything else kfree is
handed in the direct map stays a bad pointer."""

import pytest

from harness.decode.buddy import CONTIG, meta_at
from harness.targets.mmverify.buddy_model import MAX_ORDER
from harness.targets.mmverify.pmm_audit import buddy_model, read_buddy

FRAME = 4096


def contig_mark(kernel, pfn: int) -> int:
    meta = kernel.read_kernel(kernel.u32("buddy_frames") + pfn * 12, 12)
    return meta_at(meta, 0).order


def heap_errors(machine, mark) -> list[tuple[str, int]]:
    return [(r["error"], r.int("addr")) for r in machine.records("HEAP", since=mark)]


@pytest.mark.machine(memory="32M")
def test_a_contiguous_block_is_direct_mapped_and_kfree_gives_it_back(machine, kernel):
    model = buddy_model(kernel)
    before = read_buddy(kernel).lists.lists
    expected = model.allocate_block(2)  # 3 pages and a byte: 4 frames
    p = machine.call("kmalloc_contig", 3 * FRAME + 1)
    assert p == kernel.kernel_base + expected * FRAME
    space = machine.address_space()
    assert [space.translate(p + i * FRAME).pa for i in range(4)] == \
        [(expected + i) * FRAME for i in range(4)], "one physical run, in order"
    used, _ = kernel.pmm_bitmaps()
    assert all(used[expected + i] for i in range(4))
    assert contig_mark(kernel, expected) == CONTIG | 2
    machine.write(p, b"contig" * 2000)  # all four pages are writable memory
    machine.call("kfree", p)
    assert read_buddy(kernel).lists.lists == before, "the block is back where it was"
    assert contig_mark(kernel, expected) != CONTIG | 2


@pytest.mark.machine(memory="32M")
def test_kfree_twice_or_of_a_plain_frame_is_a_bad_pointer(machine, kernel):
    p = machine.call("kmalloc_contig", FRAME)
    machine.call("kfree", p)
    lists = read_buddy(kernel).lists.lists
    mark = machine.mark()
    machine.call("kfree", p)
    assert heap_errors(machine, mark) == [("invalid-pointer", p)]
    assert read_buddy(kernel).lists.lists == lists
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
