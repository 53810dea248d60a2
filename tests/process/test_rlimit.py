"""Per-process limits (getrlimit/setrlimit): read, lowered, never raised,
and each enforced: the address-space limit by mmap, brk and shm attach
(ENOMEM), the resident limit by mmap MAP_SHARED (ENOMEM) and by a demand
fault (a kill, reason `limit`), the mappings limit by mmap and a munmap that
would split a region (ENOMEM).  Limits are read from the process table, not
from what the program says."""

import pytest

from tests.process.vmdriver import (
    EINVAL,
    ENOMEM,
    EPERM,
    MAP_FIXED,
    PAGE,
    PRIVATE,
    PROT_EXEC,
    PROT_READ,
    RLIMIT_AS_PAGES,
    RLIMIT_MAPPINGS,
    RLIMIT_RESIDENT_PAGES,
    RW,
    SHARED,
    ProcessEnded,
)

pytestmark = pytest.mark.machine(modules=["user/*"], cmdline="aslr=off")

PROC_MAX_PAGES, PROC_REGIONS_MAX = 4096, 32  # include/kernel/proc.h, written down



def test_defaults_are_read(vm):
    assert vm.limits() == (PROC_MAX_PAGES, PROC_MAX_PAGES, PROC_REGIONS_MAX)
    assert [vm.do("getrlimit", value=r) for r in range(3)] == list(vm.limits())
    before = vm.state()
    assert vm.do("getrlimit", value=3) == -EINVAL
    assert vm.do("setrlimit", flags=3, value=1) == -EINVAL
    assert vm.state() == before


def test_a_limit_can_be_lowered_but_not_raised(vm):
    assert vm.do("setrlimit", flags=RLIMIT_MAPPINGS, value=5) == 0
    assert vm.limits()[2] == 5
    before = vm.state()
    assert vm.do("setrlimit", flags=RLIMIT_MAPPINGS, value=6) == -EPERM
    assert vm.do("setrlimit", flags=RLIMIT_AS_PAGES, value=PROC_MAX_PAGES + 1) == -EPERM
    assert vm.state() == before
    assert vm.do("setrlimit", flags=RLIMIT_MAPPINGS, value=5) == 0, "the same value is fine"
    assert vm.do("getrlimit", value=RLIMIT_MAPPINGS) == 5


def test_the_address_space_limit(vm):
    reserved = vm.process()["reserved_pages"]
    assert vm.do("setrlimit", flags=RLIMIT_AS_PAGES, value=reserved + 3) == 0
    before = vm.state()
    assert vm.do("mmap", 0, 4 * PAGE, RW, PRIVATE) == -ENOMEM
    assert vm.do("sbrk", value=4 * PAGE) == -ENOMEM
    assert vm.do("shm", length=4) == -ENOMEM
    # all as before but the PMM: the segment was created (then not attached)
    assert vm.state()[:2] == before[:2] and vm.state()[3:] == before[3:]
    a = vm.do("mmap", 0, 3 * PAGE, RW, PRIVATE)
    assert a > 0 and vm.process()["reserved_pages"] == reserved + 3, "exactly up to it"
    assert vm.do("sbrk", value=PAGE) == -ENOMEM
    assert vm.do("munmap", a, PAGE) == 0
    assert vm.do("sbrk", value=PAGE) == vm.process()["heap_base"], "room again"


def test_the_resident_limit_refuses_a_shared_mapping(vm):
    pages = vm.process()["pages"]
    assert vm.do("setrlimit", flags=RLIMIT_RESIDENT_PAGES, value=pages + 2) == 0
    before = vm.state()
    assert vm.do("mmap", 0, 3 * PAGE, RW, SHARED) == -ENOMEM
    assert vm.state() == before
    assert vm.do("mmap", 0, 2 * PAGE, RW, SHARED) > 0
    assert vm.process()["pages"] == pages + 2


def test_a_demand_fault_beyond_the_resident_limit_kills_with_reason_limit(vm):
    a = vm.do("mmap", 0, 4 * PAGE, RW, PRIVATE)
    pages = vm.process()["pages"]
    assert vm.do("setrlimit", flags=RLIMIT_RESIDENT_PAGES, value=pages + 1) == 0
    assert vm.do("write", a, value=1) == 0
    assert vm.process()["pages"] == pages + 1
    free = vm.free_frames()
    with pytest.raises(ProcessEnded) as ended:
        vm.do("write", a + PAGE, value=2)
    assert (ended.value.result.reason, ended.value.result.addr) == ("limit", a + PAGE)
    assert vm.free_frames() > free, "its frames went back"


def test_the_resident_limit_holds_for_the_heap_too(vm):
    heap = vm.do("sbrk", value=2 * PAGE)
    assert vm.do("setrlimit", flags=RLIMIT_RESIDENT_PAGES, value=vm.process()["pages"]) == 0
    with pytest.raises(ProcessEnded) as ended:
        vm.do("write", heap, value=1)
    assert (ended.value.result.reason, ended.value.result.addr) == ("limit", heap)


def test_the_mappings_limit(vm):
    assert vm.do("setrlimit", flags=RLIMIT_MAPPINGS, value=2) == 0
    a = vm.do("mmap", 0, 4 * PAGE, RW, PRIVATE)
    assert vm.do("mmap", 0, PAGE, RW, PRIVATE) == a + 4 * PAGE, "merged: still one region"
    b = vm.do("mmap", 0, PAGE, PROT_READ, PRIVATE)
    assert len(vm.regions()) == 2
    before = vm.state()
    assert vm.do("mmap", 0, PAGE, RW, SHARED) == -ENOMEM, "a third region"
    assert vm.do("munmap", a + PAGE, PAGE) == -ENOMEM, "a split would make a third"
    assert vm.do("mprotect", a + PAGE, PAGE, PROT_READ) == -ENOMEM, "so would this"
    assert vm.state() == before
    assert vm.do("munmap", b, PAGE) == 0
    assert vm.do("munmap", a + PAGE, PAGE) == 0, "now there is room"
    assert len(vm.regions()) == 2


def test_a_process_holds_exactly_proc_regions_max_regions(vm):
    base = 0x50000000
    for i in range(PROC_REGIONS_MAX):  # alternating rights: nothing merges
        prot = RW if i % 2 else PROT_READ
        assert vm.do("mmap", base + 2 * i * PAGE, PAGE, prot, PRIVATE | MAP_FIXED) > 0
    assert len(vm.regions()) == PROC_REGIONS_MAX
    before = vm.state()
    assert vm.do("mmap", 0, PAGE, PROT_READ | PROT_EXEC, PRIVATE) == -ENOMEM
    assert vm.state() == before
    assert vm.do("munmap", base + PAGE * 2, PAGE // 2) == 0, "a whole region may go"
    assert len(vm.regions()) == PROC_REGIONS_MAX - 1
