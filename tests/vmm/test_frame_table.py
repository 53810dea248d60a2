"""The frame table (mm/frame.h): one reference count per frame, taken by
every PAGE_OWNED mapping and dropped by its unmapping; the frame goes back to
the PMM at zero.  Counts are read from guest RAM (4 bytes a frame: refs u16,
flags u8, node u8), the PMM's verdict from its bitmap, never from what the
kernel returns alone."""

import struct

from harness.decode.paging import PRESENT, USER, WRITE
from tests.expected import KERNEL_BASE, PAGE_EXEC
from tests.vmm.test_bad_input import EINVAL, refused

OWNED, COW = 0x200, 0x800
FRAME_COW = 0x01
VA = 0x40000000
PAGE = 4096


def frame_entry(machine, kernel, pa: int) -> tuple[int, int, int]:
    """(refs, flags, node) of frame pa, from the table in guest RAM."""
    table = kernel.u32("frame_table")
    return struct.unpack("<HBB", kernel.read_kernel(table + (pa // PAGE) * 4, 4))


def frame_stats(kernel) -> dict:
    return kernel.read_struct("frame_stats", "frame_stats")


def test_the_table_covers_every_frame_and_starts_empty(machine, kernel):
    record = machine.records("FRAME")[0]
    frames = kernel.pmm_stats()["frame_count"]
    table_pa = kernel.u32("frame_table_phys")
    assert record.int("table") == table_pa == kernel.u32("frame_table") - KERNEL_BASE
    assert record.int("frames") == frames == kernel.u32("frame_table_frames")
    assert record.int("bytes") == -(-frames * 4 // PAGE) * PAGE
    assert machine.read_phys(table_pa, frames * 4) == bytes(frames * 4), \
        "at kernel_ready nothing is mapped PAGE_OWNED and nothing is held"
    used, _ = kernel.pmm_bitmaps()
    assert all(used[table_pa // PAGE + k] for k in range(record.int("bytes") // PAGE))


def test_each_owned_mapping_holds_a_reference_and_the_last_unmap_frees(machine, kernel):
    a, b = machine.call("create_page_directory"), machine.call("create_page_directory")
    frame = machine.call("allocate_page")
    before = frame_stats(kernel)
    assert machine.call("vmm_map", a, VA, frame, PRESENT | USER | OWNED) == 0
    assert machine.call("vmm_map", b, VA + PAGE, frame, PRESENT | USER | OWNED) == 0
    assert frame_entry(machine, kernel, frame) == (2, 0, 0)
    assert machine.call("vmm_unmap", a, VA, 0) == 0
    assert frame_entry(machine, kernel, frame) == (1, 0, 0)
    assert kernel.pmm_bitmaps()[0][frame // PAGE], "still mapped by b: still used"
    free = kernel.pmm_stats()["free_frames"]
    machine.call("destroy_page_directory", b)  # drops b's reference: the last
    assert frame_entry(machine, kernel, frame) == (0, 0, 0)
    assert not kernel.pmm_bitmaps()[0][frame // PAGE]
    after = frame_stats(kernel)
    assert (after["refs_taken"] - before["refs_taken"], after["refs_dropped"] -
            before["refs_dropped"], after["freed"] - before["freed"]) == (2, 2, 1)
    assert kernel.pmm_stats()["free_frames"] >= free + 1  # the frame, b's tables too
    machine.call("destroy_page_directory", a)


def test_a_mapping_without_owned_takes_no_reference(machine, kernel):
    d = machine.call("create_page_directory")
    frame = machine.call("allocate_page")
    assert machine.call("vmm_map", d, VA, frame, PRESENT | USER) == 0
    assert frame_entry(machine, kernel, frame) == (0, 0, 0)
    assert machine.call("vmm_unmap", d, VA, 0) == 0
    assert kernel.pmm_bitmaps()[0][frame // PAGE], "not owned: the unmap leaves it to its owner"
    machine.call("free_page", frame)
    machine.call("destroy_page_directory", d)


def test_a_frame_returns_to_the_pmm_with_its_flags_cleared(machine, kernel):
    d = machine.call("create_page_directory")
    frame = machine.call("allocate_page")
    assert machine.call("vmm_map", d, VA, frame, PRESENT | USER | OWNED) == 0
    at = kernel.u32("frame_table_phys") + (frame // PAGE) * 4
    machine.write_phys(at + 2, bytes([FRAME_COW]))
    assert frame_entry(machine, kernel, frame) == (1, FRAME_COW, 0)
    assert machine.call("vmm_unmap", d, VA, 0) == 0
    assert frame_entry(machine, kernel, frame) == (0, 0, 0)
    machine.call("destroy_page_directory", d)


def refused_frame_call(machine, kernel, call, pfn, kind, refs):
    """call(pfn) is refused: -EINVAL, one FRAME record naming the caller, the
    error counted, the PMM and the entry (if any) unchanged."""
    before, pmm = frame_stats(kernel), kernel.pmm_stats()
    in_table = pfn < kernel.u32("frame_table_frames")
    entry = frame_entry(machine, kernel, pfn * PAGE) if in_table else None
    mark = machine.mark()
    assert machine.call(call, pfn) == EINVAL
    records = machine.records("FRAME", since=mark)
    assert [(r["error"], r.int("pfn"), r.int("refs")) for r in records] == [(kind, pfn, refs)]
    assert records[0].int("caller") != 0
    after = frame_stats(kernel)
    assert after["errors"] == before["errors"] + 1
    assert after["last_error_caller"] == records[0].int("caller")
    assert (after["refs_taken"], after["refs_dropped"]) == \
        (before["refs_taken"], before["refs_dropped"])
    assert kernel.pmm_stats() == pmm
    if in_table:
        assert frame_entry(machine, kernel, pfn * PAGE) == entry


def test_dropping_a_reference_nobody_holds_is_refused(machine, kernel):
    frame = machine.call("allocate_page")
    refused_frame_call(machine, kernel, "frame_unref", frame // PAGE, "no-reference", 0)
    assert kernel.pmm_bitmaps()[0][frame // PAGE], "not freed behind its owner's back"
    machine.call("free_page", frame)


def test_a_frame_outside_the_table_is_refused_both_ways(machine, kernel):
    pfn = kernel.u32("frame_table_frames")
    refused_frame_call(machine, kernel, "frame_ref", pfn, "out-of-range", 0)
    refused_frame_call(machine, kernel, "frame_unref", pfn, "out-of-range", 0)


def test_a_count_at_its_maximum_is_not_wrapped(machine, kernel):
    frame = machine.call("allocate_page")
    at = kernel.u32("frame_table_phys") + (frame // PAGE) * 4
    machine.write_phys(at, (0xFFFF).to_bytes(2, "little"))
    refused_frame_call(machine, kernel, "frame_ref", frame // PAGE, "overflow", 0xFFFF)
    refused(machine, kernel, "map_page", (VA, frame, PRESENT | OWNED), EINVAL, "bad-frame",
            "map")  # before any page table is made: nothing to undo
    assert frame_entry(machine, kernel, frame) == (0xFFFF, 0, 0)
    machine.write_phys(at, bytes(2))
    machine.call("free_page", frame)


def test_an_owned_mapping_of_a_frame_outside_the_table_is_refused(machine, kernel):
    pa = kernel.u32("frame_table_frames") * PAGE
    record = refused(machine, kernel, "map_page", (VA, pa, PRESENT | OWNED), EINVAL,
                     "bad-frame", "map")
    assert record.int("pa") == pa


def test_a_writable_cow_mapping_is_refused_by_map_and_protect(machine, kernel):
    frame = machine.call("allocate_page")
    refused(machine, kernel, "map_page", (VA, frame, PRESENT | USER | WRITE | COW), EINVAL,
            "write-and-cow", "map")
    assert machine.call("map_page", VA, frame, PRESENT | USER | COW) == 0
    assert machine.address_space().translate(VA).pte.raw & (COW | WRITE) == COW
    d = kernel.u32("current_directory")
    refused(machine, kernel, "vmm_protect", (d, VA, PRESENT | USER | WRITE | COW), EINVAL,
            "write-and-cow", "protect")
    assert machine.call("unmap_page", VA) == 0
    # Not a user page: W^X is not its problem, write + COW is (a W^X test
    # that forgot to look at PAGE_USER would name the wrong one).
    refused(machine, kernel, "map_page", (VA, frame, PRESENT | WRITE | COW | PAGE_EXEC), EINVAL,
            "write-and-cow", "map")
    machine.call("free_page", frame)
