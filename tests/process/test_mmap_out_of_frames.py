"""mmap with the machine out of frames: a shared mapping that cannot get all
its frames is ENOMEM and leaves the process as it was; a demand fault in a
private region with no frame left kills with reason out-of-memory.  A 16 MiB
machine, emptied by shared mappings of halving sizes (the limits allow more
pages than it has)."""

import pytest

from tests.process.vmdriver import (
    ENOMEM,
    MAP_FIXED,
    PAGE,
    PRIVATE,
    RW,
    SHARED,
    ProcessEnded,
    VmDriver,
)

# zswap=off (and no swap disk): swap is off, so RAM emptied on purpose stays
# empty; with swap, reclaim would make room (tests/swap covers that).
pytestmark = pytest.mark.machine(modules=["user/vmdriver"], cmdline="aslr=off zswap=off",
                                 memory="16M")


def test_shared_mmap_without_frames_changes_nothing_then_a_fault_is_out_of_memory(userland):
    vm = VmDriver(userland)
    refused = 0
    chunk = 1024
    while chunk:
        regions, ptes, free, limits, pages, reserved, brk = vm.state()
        got = vm.do("mmap", 0, chunk * PAGE, RW, SHARED)
        if got < 0:
            assert got == -ENOMEM
            after = vm.state()
            assert after[:2] == (regions, ptes) and after[3:] == (limits, pages, reserved, brk)
            # the frames it took went back; page tables made for it (a 1024-page
            # range spans up to 3) and a kernel heap page for its list may stay
            assert free - after[2] <= 4
            refused += 1
            chunk //= 2
    assert refused == 11, "refused at every size down to one page"
    a = vm.do("mmap", 0, PAGE, RW, PRIVATE)
    assert a > 0, "a private mapping needs no frame yet"
    with pytest.raises(ProcessEnded) as ended:
        vm.do("write", a, value=1)
    assert (ended.value.result.reason, ended.value.result.addr) == ("out-of-memory", a)


def test_a_shared_mmap_that_would_need_a_page_table_it_cannot_get_changes_nothing(userland):
    """Exactly as many frames free as the mapping has pages, at an address with
    no page table yet: the table is one frame too many.  mmap must see that
    before it maps anything (ENOMEM, not a frame or a table kept); one frame
    more and the same call succeeds, taking every frame."""
    vm = VmDriver(userland)
    spare = vm.do("mmap", 0, 64 * PAGE, RW, SHARED)  # frames to give back, in one table
    assert spare > 0
    chunk = 1024
    while chunk:  # take every frame left
        if vm.do("mmap", 0, chunk * PAGE, RW, SHARED) < 0:
            chunk //= 2
    give = 3
    pages = vm.free_frames() + give
    assert vm.do("munmap", spare, give * PAGE) == 0
    assert vm.free_frames() == pages
    target = 0x50000000  # in the mmap area, far from every table the fill made
    before = vm.state()
    assert vm.do("mmap", target, pages * PAGE, RW, SHARED | MAP_FIXED) == -ENOMEM
    assert vm.state() == before, "no frame, no table, no region kept"
    assert vm.do("munmap", spare + give * PAGE, PAGE) == 0  # the table's frame
    assert vm.do("mmap", target, pages * PAGE, RW, SHARED | MAP_FIXED) == target
    assert vm.free_frames() == 0
