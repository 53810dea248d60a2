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
