"""The clock over sparse address spaces: a 14 MiB private mapping with one
page every 2 MiB, that page paged out, leaves a page table per 2 MiB with
nothing the clock could evict.  Two processes hold one each (a fork), a
third fills more than RAM.  Walking those empty and swapped entries must not
use up the clock's two sweeps: it once charged each PTE it looked at against
a budget of twice the frames, the two mappings (more than twice that budget
together) spent it all and reclaim freed nothing (the allocation took the kernel's
reserve, and once that was gone the OOM rule would kill a process) while the
third one's pages could still go to swap."""

import pytest

from harness.machine.disks import DiskSpec
from tests.process.vmdriver import PRIVATE, RW, VmDriver
from tests.swap.swapping import swap_stats

PAGE = 4096
KERNEL_BASE = 0xC0000000
ACCESSED = 0x20
STRIDE = 2 << 20  # a page table per page in PAE; every other one in legacy paging
SPARSE_PAGES = 7  # 14 MiB of the 16 a process may reserve
EXTRA = 400  # dense pages beyond the free frames


def reclaim_failures(kernel) -> int:
    return dict(kernel.read_struct("reclaim_stats", "reclaim_stats"))["failed"]


@pytest.mark.machine(modules=["user/vmdriver"], memory="6M", cmdline="aslr=off zswap=off",
                     disks=[DiskSpec("hdc", size="64M")])
def test_empty_entries_of_sparse_mappings_do_not_end_the_clock_early(userland, machine, kernel):
    vm = VmDriver(userland)
    try:
        sparse = vm.do("mmap", 0, SPARSE_PAGES * STRIDE, RW, PRIVATE)
        assert sparse > 0, sparse
        for i in range(SPARSE_PAGES):
            assert vm.do("write", sparse + i * STRIDE, value=0x600 + i) == 0
        assert vm.do("pageout", sparse, SPARSE_PAGES * STRIDE) == SPARSE_PAGES
        twin = vm.fork()  # the second sparse mapping, next to the first in the clock's order
        filler = vm.fork()
        assert filler.do("munmap", sparse, SPARSE_PAGES * STRIDE) == 0
        free = filler.free_frames()
        room = filler.limits()[0] - filler.process()["reserved_pages"]
        dense_pages = min(free + EXTRA, room)
        assert dense_pages > free + EXTRA // 2, (free, room)
        dense = filler.do("mmap", 0, dense_pages * PAGE, RW, PRIVATE)
        assert dense > 0, dense
        mark = machine.mark()
        failed = reclaim_failures(kernel)
        # Twice over the dense mapping: the second pass swaps pages back in
        # while the hand goes round through both sparse mappings too.
        for value in (0x1000, 0x2000):
            assert filler.do("touch", dense, dense_pages * PAGE, value=value) == 0
        # Every reclaim freed frames (a failed one leaves the allocation to the
        # kernel's reserve, and the OOM rule once that is gone).
        assert reclaim_failures(kernel) == failed
        assert machine.records("OOM", since=mark) == []
        assert [filler.do("read", dense + i * PAGE) for i in (0, 1, dense_pages - 1)] == [
            0x2000, 0x2001, 0x2000 + dense_pages - 1]
        for driver in (vm, twin):
            assert [driver.do("read", sparse + i * STRIDE) for i in range(SPARSE_PAGES)] == [
                0x600 + i for i in range(SPARSE_PAGES)]
        assert swap_stats(kernel)["swap_outs"] >= dense_pages
    finally:
        vm.finish_all()


@pytest.mark.machine(modules=["user/hello"], memory="16M", cmdline="aslr=off zswap=off",
                     disks=[DiskSpec("hdc", size="16M")])
def test_the_clock_evicts_on_its_third_visit_to_the_process_it_started_in(userland, machine,
                                                                         kernel):
    """The hand stopped past the last page of the only process with pages,
    every one of them just used: the sweep that starts there ends that
    process at once, the next visit to it only clears ACCESSED bits, and the
    one after evicts.  That third visit is the pass the one more of the
    clock's 2 * PROC_MAX + 1 is for; without it reclaim would find nothing."""
    pid = userland.spawn("hello")  # ready, never run: its image and stack are mapped
    [slot] = [i for i, p in enumerate(kernel.process_table()) if p["pid"] == pid]
    cr3 = userland.process(pid).cr3
    space = machine.address_space(cr3)
    pages = [m for m in space.mappings(0, KERNEL_BASE) if m.user]
    assert pages, "the process has user pages"
    for m in pages:
        machine.write_pte(m.va, m.pte | ACCESSED, cr3)
    # The hand: this process's slot, past its last page.
    machine.write_u32(machine.symbol("hand_proc"), slot)
    machine.write_u32(machine.symbol("hand_va"), KERNEL_BASE)
    before = swap_stats(kernel)
    assert machine.call("swap_out_pages", 1, 0xFFFFFFFF) == 1
    after = swap_stats(kernel)
    assert after["swap_outs"] == before["swap_outs"] + 1
    assert after["second_chances"] == before["second_chances"] + len(pages), "each bit first"
    assert machine.read_u32(machine.symbol("hand_va")) == pages[0].va + PAGE, \
        "the first page of the third visit went"
