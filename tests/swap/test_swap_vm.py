"""Swap entries under the memory calls (mprotect, munmap, PROT_NONE, exit)
and the rights a page gets back (NX kept in PAE, text still executable),
driven one operation at a time with firmware/user/vmdriver.c (its `pageout`
operation puts exactly the pages named into swap: the pool, no disk) and
judged from the page tables and the kernel's slot counters; the swap audit
runs after each test (conftest)."""

import pytest

from harness.decode.paging import COW, PRESENT, WRITE, is_swap
from harness.decode.swap import slot_of
from tests.process.vmdriver import EINVAL, PRIVATE, PROT_NONE, PROT_READ, RW, ProcessEnded, VmDriver
from tests.swap.swapping import swap_stats

pytestmark = pytest.mark.machine(modules=["user/vmdriver"], cmdline="aslr=off")

PAGE = 4096
NX = 1 << 63


@pytest.fixture
def vm(userland):
    driver = VmDriver(userland)
    yield driver
    driver.finish_all()


def entries(vm, start, pages):
    """va -> raw entry for every page of the range that has one (present,
    swap), from the walker."""
    aspace = vm.u.address_space(vm.pid)
    out = {m.va: m.pte for m in aspace.mappings(start, start + pages * PAGE)}
    out.update(dict(aspace.swap_pages(start, start + pages * PAGE)))
    return out


def mapped_and_out(vm, pages):
    """A private RW mapping of ``pages`` pages, each touched (page i's first
    word 0x5000 + i), then all paged out: its address."""
    a = vm.do("mmap", 0, pages * PAGE, RW, PRIVATE)
    assert vm.do("touch", a, pages * PAGE, value=0x5000) == 0
    assert vm.do("pageout", a, pages * PAGE) == pages
    return a


def test_pages_out_name_slots_and_come_back_with_their_contents_and_rights(vm, kernel):
    a = mapped_and_out(vm, 4)
    out = entries(vm, a, 4)
    assert all(is_swap(raw) and raw & WRITE and not raw & COW for raw in out.values())
    assert len({slot_of(raw) for raw in out.values()}) == 4
    assert [vm.do("read", a + i * PAGE) for i in range(4)] == [0x5000 + i for i in range(4)]
    back = entries(vm, a, 4)
    assert all(raw & PRESENT and raw & WRITE for raw in back.values())
    assert vm.process()["swapped_pages"] == 0 and swap_stats(kernel)["in_use"] == 0


def test_mprotect_read_only_on_swapped_pages_holds_after_swap_in(vm):
    a = mapped_and_out(vm, 2)
    assert vm.do("mprotect", a, 2 * PAGE, PROT_READ) == 0
    assert all(is_swap(raw) and not raw & WRITE for raw in entries(vm, a, 2).values())
    assert vm.do("read", a) == 0x5000
    assert not entries(vm, a, 1)[a] & WRITE, "swapped in read-only"
    with pytest.raises(ProcessEnded) as ended:
        vm.do("write", a + PAGE, value=1)  # swapped in, then the write faults
    assert (ended.value.result.reason, ended.value.result.addr) == ("write-to-read-only",
                                                                     a + PAGE)


def test_a_swapped_page_under_prot_none_faults_guard_and_comes_back_with_rights(vm):
    a = mapped_and_out(vm, 2)
    assert vm.do("mprotect", a, 2 * PAGE, PROT_NONE) == 0
    assert vm.do("mprotect", a, PAGE, RW) == 0
    assert vm.do("read", a) == 0x5000, "rights back: the page comes back whole"
    with pytest.raises(ProcessEnded) as ended:
        vm.do("read", a + PAGE)
    assert (ended.value.result.reason, ended.value.result.addr) == ("guard", a + PAGE)


def test_munmap_of_swapped_pages_frees_their_slots(vm, kernel):
    before = swap_stats(kernel)["in_use"]
    a = mapped_and_out(vm, 6)
    assert swap_stats(kernel)["in_use"] == before + 6
    assert vm.do("munmap", a + 2 * PAGE, 3 * PAGE) == 0
    assert swap_stats(kernel)["in_use"] == before + 3
    assert sorted(entries(vm, a, 6)) == [a, a + PAGE, a + 5 * PAGE]
    assert vm.process()["swapped_pages"] == 3


def test_text_and_data_come_back_with_their_execute_rights(vm, paging, kernel):
    """The program's own text page goes out while it runs: the next
    instruction fetch swaps it back in executable (else the program could
    not go on); a heap page comes back NX under PAE."""
    text = 0x1000
    assert vm.do("pageout", text, PAGE) == 1
    heap = vm.process()["heap_base"]
    assert vm.do("sbrk", value=PAGE) == heap
    assert vm.do("touch", heap, PAGE, value=7) == 0
    assert vm.do("pageout", heap, PAGE) == 1
    assert vm.do("read", heap) == 7  # the text page came back to run this
    code, data = entries(vm, text, 1)[text], entries(vm, heap, 1)[heap]
    assert code & PRESENT and not code & WRITE and data & PRESENT and data & WRITE
    if paging == "pae" and kernel.nx_enabled():
        assert not code & NX and data & NX


def test_a_page_swapped_before_a_fork_is_copy_on_write_in_both_after_swap_in(vm, userland):
    """Paged out, then fork: both PTEs name the slot read-only + COW.  Both
    read it: one frame, mapped read-only + COW in both (the swap cache gave
    the second reader the first one's frame).  The parent's write copies:
    the child still reads the old value."""
    a = mapped_and_out(vm, 1)
    child = vm.fork()
    for d in (vm, child):
        raw = entries(d, a, 1)[a]
        assert is_swap(raw) and raw & COW and not raw & WRITE
    assert vm.do("read", a) == 0x5000 and child.do("read", a) == 0x5000
    (ppa, ppte), (cpa, cpte) = [
        next((m.pa, m.pte) for m in userland.address_space(d.pid).mappings(a, a + PAGE))
        for d in (vm, child)]
    assert ppa == cpa, "one frame for both readers"
    assert all(pte & COW and not pte & WRITE for pte in (ppte, cpte))
    assert vm.do("write", a, value=9) == 0
    assert child.do("read", a) == 0x5000 and vm.do("read", a) == 9


@pytest.mark.parametrize("addr, length", [
    (0xFFFFF000, 0xFFF),   # USER_TOP - addr would wrap: the loop ran through 0 forever
    (0xC0000000, PAGE),    # the first kernel page
    (0xBFFFF000, 2 * PAGE),  # the last user page and one beyond
])
def test_pageout_outside_user_space_is_einval_and_the_kernel_goes_on(vm, addr, length):
    a = vm.do("mmap", 0, PAGE, RW, PRIVATE)
    assert vm.do("touch", a, PAGE, value=0x77) == 0
    assert vm.do("pageout", addr, length) == -EINVAL
    assert vm.do("pageout", a, PAGE) == 1  # the kernel still answers, and swaps
    assert vm.do("read", a) == 0x77
