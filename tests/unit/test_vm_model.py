"""The mmap model of tests/process/vm_model.py, without QEMU: the rules of
include/mm/mmap.h it encodes, on hand-picked cases."""

from tests.process.vm_model import REGIONS_MAX, VmModel
from tests.process.vmdriver import (
    EACCES,
    EEXIST,
    EINVAL,
    ENOMEM,
    MAP_FIXED,
    MAP_FIXED_NOREPLACE,
    MAP_PRIVATE,
    MAP_SHARED,
    PAGE,
    PROT_EXEC,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
    Region,
)

BASE = 0x40000000
RW = PROT_READ | PROT_WRITE


def test_kernel_chosen_addresses_are_first_fit_from_the_base():
    m = VmModel(BASE + 2 * PAGE)
    assert m.mmap(0, 2, RW, MAP_PRIVATE) == BASE + 2 * PAGE
    assert m.mmap(0, 1, RW, MAP_PRIVATE) == BASE + 4 * PAGE
    assert m.regions() == [Region(BASE + 2 * PAGE, BASE + 5 * PAGE, RW, MAP_PRIVATE)]
    m.area_end = BASE + 6 * PAGE
    assert m.mmap(0, 2, RW, MAP_PRIVATE) == BASE, "wraps below the base when full"


def test_a_hint_is_taken_only_when_free():
    m = VmModel(BASE)
    assert m.mmap(BASE + 8 * PAGE, 1, RW, MAP_PRIVATE) == BASE + 8 * PAGE
    assert m.mmap(BASE + 8 * PAGE, 1, PROT_READ, MAP_PRIVATE) == BASE


def test_split_and_merge():
    m = VmModel(BASE)
    m.mmap(0, 4, RW, MAP_PRIVATE)
    assert m.mprotect(BASE + PAGE, 2, PROT_READ) == 0
    assert [r.prot for r in m.regions()] == [RW, PROT_READ, RW]
    assert m.mprotect(BASE + PAGE, 2, RW) == 0
    assert m.regions() == [Region(BASE, BASE + 4 * PAGE, RW, MAP_PRIVATE)]
    assert m.munmap(BASE + PAGE, 1) == 0
    assert len(m.regions()) == 2
    assert m.mmap(BASE + PAGE, 1, RW, MAP_SHARED | MAP_FIXED) == BASE + PAGE
    assert [r.flags for r in m.regions()] == [MAP_PRIVATE, MAP_SHARED, MAP_PRIVATE]


def test_contents_go_with_munmap_and_fixed_replacement_and_stay_through_prot_none():
    m = VmModel(BASE)
    m.mmap(0, 3, RW, MAP_PRIVATE)
    for i in range(3):
        m.write(BASE + i * PAGE + 4, i + 1)
    m.munmap(BASE, 1)
    m.mmap(BASE + PAGE, 1, RW, MAP_PRIVATE | MAP_FIXED)
    assert m.mprotect(BASE + 2 * PAGE, 1, PROT_NONE) == 0
    assert sorted(m.contents) == [BASE + 2 * PAGE], "kept (mm/mmap.h)"
    assert m.mprotect(BASE + 2 * PAGE, 1, RW) == 0 and m.read(BASE + 2 * PAGE + 4) == 3


def test_shared_pages_are_resident_at_once_and_refuse_prot_none():
    m = VmModel(BASE)
    a = m.mmap(0, 2, RW, MAP_SHARED)
    assert sorted(m.contents) == [a, a + PAGE]
    assert m.mprotect(a, 1, PROT_NONE) == -EINVAL
    assert m.mmap(0, 1, PROT_NONE, MAP_SHARED) == -EINVAL


def test_errors_and_the_region_count():
    m = VmModel(BASE)
    assert m.mmap(0, 1, PROT_WRITE | PROT_EXEC, MAP_PRIVATE) == -EACCES
    assert m.mprotect(BASE, 1, PROT_READ) == -ENOMEM, "nothing mapped"
    m.mmap(0, 1, RW, MAP_PRIVATE)
    assert m.mmap(BASE, 1, RW, MAP_PRIVATE | MAP_FIXED_NOREPLACE) == -EEXIST
    for i in range(1, REGIONS_MAX):  # alternate prot: no merging
        m.mmap(BASE + i * PAGE, 1, PROT_READ if i % 2 else RW, MAP_PRIVATE | MAP_FIXED)
    assert len(m.regions()) == REGIONS_MAX
    assert m.mmap(BASE + 40 * PAGE, 1, RW, MAP_PRIVATE | MAP_FIXED) == -ENOMEM
    assert m.munmap(BASE + PAGE, 1) == 0, "fewer regions is always allowed"


def test_fork_shares_every_page_and_a_private_write_copies():
    parent = VmModel(BASE)
    p = parent.mmap(0, 2, RW, MAP_PRIVATE)
    s = parent.mmap(0, 1, RW, MAP_SHARED)
    parent.write(p, 1)
    child = parent.fork()
    assert child.regions() == parent.regions()
    assert child.contents[p] is parent.contents[p] and parent.contents[p].refs == 2
    assert child.contents[s] is parent.contents[s]
    assert not parent.pte_writable(p) and not child.pte_writable(p), "COW in both"
    assert parent.pte_writable(s) and child.pte_writable(s), "shared stays writable"
    child.write(p + 4, 2)
    assert child.contents[p] is not parent.contents[p], "the writer got its own page"
    assert (parent.read(p + 4), child.read(p), child.read(p + 4)) == (0, 1, 2)
    assert parent.contents[p].refs == child.contents[p].refs == 1
    assert child.pte_writable(p) and not parent.pte_writable(p), "the parent's is still COW"
    frame = parent.contents[p]
    parent.write(p, 3)
    assert parent.contents[p] is frame and parent.pte_writable(p), "taken back in place"
    child.write(s, 4)
    assert parent.read(s) == 4, "a shared page is one page"


def test_fork_leaves_read_only_pages_shared_and_mprotect_adds_write_as_cow():
    parent = VmModel(BASE)
    a = parent.mmap(0, 1, PROT_READ, MAP_PRIVATE)
    assert parent.read(a) == 0
    child = parent.fork()
    assert a not in parent.cow and a not in child.cow, "read-only: shared as it is"
    assert parent.mprotect(a, 1, RW) == 0
    assert a in parent.cow and not parent.pte_writable(a), "another holder: COW"
    parent.write(a, 5)
    assert child.read(a) == 0 and parent.contents[a] is not child.contents[a]
    assert child.mprotect(a, 1, RW) == 0 and child.pte_writable(a), "the only holder now"


def test_untouched_pages_stay_untouched_and_exit_drops_references():
    parent = VmModel(BASE)
    a = parent.mmap(0, 2, RW, MAP_PRIVATE)
    parent.write(a, 1)
    child = parent.fork()
    assert a + PAGE not in child.contents, "a page no one touched is not copied"
    child.read(a + PAGE)
    assert a + PAGE not in parent.contents, "demand-zero in the child alone"
    frame = parent.contents[a]
    child.exit()
    assert frame.refs == 1 and child.pages == {} and child.contents == {}
    assert a in parent.cow, "still COW until the parent writes"
    parent.write(a, 2)
    assert parent.contents[a] is frame and a not in parent.cow


def test_munmap_in_one_process_leaves_the_other_its_page_and_prot_none_keeps_it():
    parent = VmModel(BASE)
    a = parent.mmap(0, 2, RW, MAP_PRIVATE)
    parent.write(a, 7)
    parent.write(a + PAGE, 8)
    child = parent.fork()
    assert child.munmap(a, 1) == 0 and parent.contents[a].refs == 1
    assert child.mprotect(a + PAGE, 1, PROT_NONE) == 0, "kept (mm/mmap.h)"
    assert parent.contents[a + PAGE] is child.contents[a + PAGE]
    assert parent.contents[a + PAGE].refs == 2
    assert (parent.read(a), parent.read(a + PAGE)) == (7, 8)


def test_a_kept_prot_none_page_is_cow_after_fork_and_copies_when_written_again():
    parent = VmModel(BASE)
    a = parent.mmap(0, 1, RW, MAP_PRIVATE)
    parent.write(a, 9)
    assert parent.mprotect(a, 1, PROT_NONE) == 0
    child = parent.fork()
    assert a in parent.cow and a in child.cow and parent.contents[a].refs == 2
    assert child.mprotect(a, 1, RW) == 0 and not child.pte_writable(a), "COW: shared frame"
    child.write(a + 4, 1)
    assert child.contents[a] is not parent.contents[a] and child.read(a) == 9
    assert parent.mprotect(a, 1, RW) == 0 and parent.pte_writable(a), "the only holder now"
