"""mmap, munmap and mprotect through the vmdriver program, judged from
outside: the region list in the process table, PTEs through the walker,
frame reference counts, the PMM's free frames, how the process ended."""

import pytest

from harness.targets.mmverify.invariants import violations
from tests.process.vmdriver import (
    EACCES,
    EEXIST,
    EINVAL,
    ENOMEM,
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_FIXED_NOREPLACE,
    MAP_PRIVATE,
    MAP_SHARED,
    MMAP_AREA,
    MMAP_BASE_SPAN,
    PAGE,
    PAGE_COW,
    PAGE_OWNED,
    PRIVATE,
    PROT_EXEC,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
    RW,
    SHARED,
    ProcessEnded,
    Region,
    VmDriver,
)

EBADF = 9  # not an open descriptor (kernel/errno.h)

pytestmark = pytest.mark.machine(modules=["user/*"], cmdline="aslr=off")

WRITE_BIT, USER_BIT = 0x2, 0x4
FRAME_COW = 0x01  # include/mm/frame.h
FIXED = PRIVATE | MAP_FIXED



def test_a_private_mapping_is_demand_zero(vm):
    free, before = vm.free_frames(), vm.process()
    a = vm.do("mmap", 0, 4 * PAGE, RW, PRIVATE)
    assert a == MMAP_AREA[0], "aslr=off: the area's base"
    assert vm.process()["reserved_pages"] == before["reserved_pages"] + 4
    assert vm.regions() == [Region(a, a + 4 * PAGE, RW, MAP_PRIVATE)]
    assert vm.ptes(a, a + 4 * PAGE) == {} and vm.free_frames() == free, "no frame before a touch"
    assert vm.do("read", a + PAGE) == 0
    assert vm.do("write", a + 2 * PAGE + 8, value=0xDEADBEEF) == 0
    ptes = vm.ptes(a, a + 4 * PAGE)
    assert sorted(ptes) == [a + PAGE, a + 2 * PAGE]
    frame, bits = ptes[a + 2 * PAGE]
    assert bits & (WRITE_BIT | USER_BIT | PAGE_OWNED) == WRITE_BIT | USER_BIT | PAGE_OWNED
    assert vm.frame_refs(frame)[0] == 1
    assert vm.read_page(a + 2 * PAGE)[8:12] == (0xDEADBEEF).to_bytes(4, "little")
    assert vm.read_page(a + PAGE) == bytes(PAGE)
    assert vm.process()["pages"] == before["pages"] + 2
    assert vm.process()["demand_faults"] == before["demand_faults"] + 2
    assert vm.do("munmap", a, 4 * PAGE) == 0
    assert vm.regions() == [] and vm.ptes(a, a + 4 * PAGE) == {}
    # the page table made for the first touch stays until the process ends
    assert vm.free_frames() == free - 1, "both frames went back"
    after = vm.process()
    assert (after["pages"], after["reserved_pages"]) == (before["pages"],
                                                         before["reserved_pages"])


def test_a_shared_mapping_is_backed_at_mmap_time(vm):
    free = vm.free_frames()
    a = vm.do("mmap", 0, 3 * PAGE, RW, SHARED)
    assert vm.regions() == [Region(a, a + 3 * PAGE, RW, MAP_SHARED)]
    ptes = vm.ptes(a, a + 3 * PAGE)
    assert sorted(ptes) == [a, a + PAGE, a + 2 * PAGE]
    for frame, bits in ptes.values():
        assert bits & (WRITE_BIT | PAGE_OWNED | PAGE_COW) == WRITE_BIT | PAGE_OWNED
        assert vm.frame_refs(frame)[0] == 1
        assert vm.m.read_phys(frame, PAGE) == bytes(PAGE), "zeroed"
    assert free - vm.free_frames() == 3 + 1, "the frames and their page table"
    assert vm.do("munmap", a, 3 * PAGE) == 0
    assert vm.free_frames() == free - 1, "the page table stays until exit"


def test_partial_munmap_and_mprotect_split_and_merge(vm):
    a = vm.do("mmap", 0, 8 * PAGE, RW, PRIVATE)
    vm.do("write", a + 3 * PAGE, value=7)
    assert vm.do("mprotect", a + 2 * PAGE, 2 * PAGE, PROT_READ) == 0
    assert vm.regions() == [Region(a, a + 2 * PAGE, RW, MAP_PRIVATE),
                            Region(a + 2 * PAGE, a + 4 * PAGE, PROT_READ, MAP_PRIVATE),
                            Region(a + 4 * PAGE, a + 8 * PAGE, RW, MAP_PRIVATE)]
    assert not vm.ptes(a + 3 * PAGE, a + 4 * PAGE)[a + 3 * PAGE][1] & WRITE_BIT, "PTE follows"
    assert vm.do("mprotect", a + 2 * PAGE, 2 * PAGE, RW) == 0
    assert vm.regions() == [Region(a, a + 8 * PAGE, RW, MAP_PRIVATE)], "merged back"
    assert vm.ptes(a + 3 * PAGE, a + 4 * PAGE)[a + 3 * PAGE][1] & WRITE_BIT
    assert vm.do("munmap", a + 3 * PAGE, PAGE) == 0
    assert vm.regions() == [Region(a, a + 3 * PAGE, RW, MAP_PRIVATE),
                            Region(a + 4 * PAGE, a + 8 * PAGE, RW, MAP_PRIVATE)]
    assert vm.ptes(a, a + 8 * PAGE) == {}, "the touched page went with it"
    assert vm.do("munmap", a, PAGE) == 0  # the head of the first
    assert vm.do("munmap", a + 7 * PAGE, PAGE) == 0  # the tail of the second
    assert vm.regions() == [Region(a + PAGE, a + 3 * PAGE, RW, MAP_PRIVATE),
                            Region(a + 4 * PAGE, a + 7 * PAGE, RW, MAP_PRIVATE)]
    assert vm.do("mmap", a, PAGE, RW, FIXED) == a  # joins the region after it only
    assert vm.do("mmap", a + 7 * PAGE, PAGE, RW, FIXED) == a + 7 * PAGE  # the one before only
    assert vm.regions() == [Region(a, a + 3 * PAGE, RW, MAP_PRIVATE),
                            Region(a + 4 * PAGE, a + 8 * PAGE, RW, MAP_PRIVATE)]
    assert vm.do("mmap", a + 3 * PAGE, PAGE, RW, FIXED) == a + 3 * PAGE
    assert vm.regions() == [Region(a, a + 8 * PAGE, RW, MAP_PRIVATE)], "filled: one"
    assert vm.do("munmap", a, 16 * PAGE) == 0, "gaps in the range are fine"
    assert vm.regions() == []


def test_different_kinds_side_by_side_stay_apart(vm):
    a = vm.do("mmap", 0, 2 * PAGE, RW, PRIVATE)
    b = vm.do("mmap", 0, 2 * PAGE, RW, SHARED)
    c = vm.do("mmap", 0, PAGE, PROT_READ, PRIVATE)
    assert (b, c) == (a + 2 * PAGE, a + 4 * PAGE), "first fit upward"
    assert vm.regions() == [Region(a, b, RW, MAP_PRIVATE), Region(b, c, RW, MAP_SHARED),
                            Region(c, c + PAGE, PROT_READ, MAP_PRIVATE)]
    assert vm.do("munmap", b, 2 * PAGE) == 0
    assert vm.do("mmap", 0, PAGE, RW, PRIVATE) == b, "the hole, merged with its left"
    assert vm.regions() == [Region(a, b + PAGE, RW, MAP_PRIVATE),
                            Region(c, c + PAGE, PROT_READ, MAP_PRIVATE)]


def test_a_free_hint_is_taken_and_a_used_one_is_not(vm):
    hint = 0x50000000
    assert vm.do("mmap", hint, PAGE, RW, PRIVATE) == hint
    assert vm.do("mmap", hint, PAGE, PROT_READ, PRIVATE) == MMAP_AREA[0]


def test_map_fixed_replaces_a_mapping_and_frees_its_frames(vm):
    a = vm.do("mmap", 0, 2 * PAGE, RW, PRIVATE)
    vm.do("write", a, value=0x1234)
    vm.do("write", a + PAGE, value=0x5678)
    free = vm.free_frames()
    assert vm.do("mmap", a + PAGE, PAGE, PROT_READ, FIXED) == a + PAGE
    assert vm.regions() == [Region(a, a + PAGE, RW, MAP_PRIVATE),
                            Region(a + PAGE, a + 2 * PAGE, PROT_READ, MAP_PRIVATE)]
    assert sorted(vm.ptes(a, a + 2 * PAGE)) == [a], "the replaced page is gone"
    assert vm.free_frames() == free + 1
    assert vm.do("read", a + PAGE) == 0, "a new demand-zero page"
    assert vm.do("read", a) == 0x1234


def test_map_fixed_noreplace_refuses_anything_there(vm):
    a = vm.do("mmap", 0, 2 * PAGE, RW, PRIVATE)
    before = vm.state()
    assert vm.do("mmap", a + PAGE, 2 * PAGE, RW, PRIVATE | MAP_FIXED_NOREPLACE) == -EEXIST
    assert vm.state() == before
    assert vm.do("mmap", a + 2 * PAGE, PAGE, RW, PRIVATE | MAP_FIXED_NOREPLACE) == a + 2 * PAGE


def test_a_guard_region_kills_with_reason_guard(vm):
    g = vm.do("mmap", 0, PAGE, PROT_NONE, PRIVATE)
    assert vm.regions() == [Region(g, g + PAGE, PROT_NONE, MAP_PRIVATE)]
    with pytest.raises(ProcessEnded) as ended:
        vm.do("read", g + 16)
    assert (ended.value.result.reason, ended.value.result.addr) == ("guard", g + 16)


def test_a_write_to_a_read_only_region_kills(vm):
    r = vm.do("mmap", 0, PAGE, PROT_READ, PRIVATE)
    assert vm.do("read", r) == 0
    with pytest.raises(ProcessEnded) as ended:
        vm.do("write", r, value=1)
    assert (ended.value.result.reason, ended.value.result.addr) == ("write-to-read-only", r)


def test_an_untouched_read_only_page_refuses_a_write_too(vm, kernel):
    """Refused at the not-present fault: no page is mapped for it first."""
    r = vm.do("mmap", 0, PAGE, PROT_READ, PRIVATE)
    with pytest.raises(ProcessEnded) as ended:
        vm.do("write", r + 4, value=1)
    assert (ended.value.result.reason, ended.value.result.addr) == ("write-to-read-only", r + 4)
    faults = [(f.kind, f.action, f.reason) for f in kernel.fault_log()
              if f.pid == vm.pid and f.fault.addr >> 12 == r >> 12]
    assert faults == [("not-present", "kill", "write-to-read-only")]


def test_mprotect_to_none_keeps_the_pages_and_makes_a_guard(vm):
    a = vm.do("mmap", 0, 2 * PAGE, RW, PRIVATE)
    vm.do("write", a, value=99)
    free, (frame, _) = vm.free_frames(), vm.ptes(a, a + PAGE)[a]
    assert vm.do("mprotect", a, PAGE, PROT_NONE) == 0
    assert vm.ptes(a, a + 2 * PAGE) == {} and vm.free_frames() == free
    assert list(vm.protnone(a, a + 2 * PAGE)) == [a] and vm.frame_refs(frame)[0] == 1
    assert vm.do("mprotect", a, PAGE, RW) == 0
    assert vm.do("read", a) == 99, "back with its contents (mm/mmap.h)"
    assert vm.do("mprotect", a, PAGE, PROT_NONE) == 0
    with pytest.raises(ProcessEnded) as ended:
        vm.do("write", a, value=1)
    assert ended.value.result.reason == "guard"


def test_an_executable_region_maps_pages_executable(vm, kernel):
    x = vm.do("mmap", 0, PAGE, PROT_READ | PROT_EXEC, PRIVATE)
    assert vm.do("read", x) == 0
    t = vm.u.address_space(vm.pid).translate(x)
    assert t.pa is not None and not t.write and t.execute
    d = vm.do("mmap", 0, PAGE, RW, PRIVATE)
    vm.do("write", d, value=1)
    assert vm.u.address_space(vm.pid).translate(d).execute == (not kernel.nx_enabled())


BAD_MMAPS = [  # (addr, len, prot, flags, errno, why)
    (0x50000800, PAGE, RW, FIXED, EINVAL, "unaligned"),
    (0, 0, RW, PRIVATE, EINVAL, "len 0"),
    (0x50000000, 0, RW, FIXED, EINVAL, "len 0, fixed"),
    (0x7FFFF000, 0xFFFFF000, RW, FIXED, EINVAL, "len wraps"),
    (0, 0xFFFFFFFF, RW, PRIVATE, EINVAL, "len wraps when rounded"),
    (0, PAGE, RW, FIXED, EINVAL, "the null page"),
    (0xC0000000, PAGE, RW, FIXED, EINVAL, "the kernel half"),
    (0xC0100000, PAGE, RW, PRIVATE, EINVAL, "a hint in the kernel half"),
    (0xBFFFF000, 2 * PAGE, PROT_READ, FIXED, EINVAL, "across into the kernel half"),
    (0, PAGE, RW, MAP_ANONYMOUS, EINVAL, "neither shared nor private"),
    (0, PAGE, RW, SHARED | MAP_PRIVATE, EINVAL, "both"),
    # without MAP_ANONYMOUS it maps the file open on descriptor EDI: vmdriver has none
    (0, PAGE, RW, MAP_PRIVATE, EBADF, "not anonymous"),
    (0, PAGE, RW, PRIVATE | 0x4000, EINVAL, "an unknown flag"),
    (0, PAGE, 0x8, PRIVATE, EINVAL, "an unknown prot bit"),
    (0, PAGE, PROT_NONE, SHARED, EINVAL, "shared guard"),
    (0, PAGE, PROT_WRITE | PROT_EXEC, PRIVATE, EACCES, "W^X"),
    (0xC0000000, PAGE, RW | PROT_EXEC, FIXED, EACCES, "W^X is checked first"),
    (0x1000, PAGE, RW, FIXED, EEXIST, "over the image"),
    (0x80000000, PAGE, RW, FIXED, EEXIST, "over the heap area"),
    (0x8FFFF000, 2 * PAGE, RW, FIXED, EEXIST, "the heap area's last page"),
    (0xA0000000, PAGE, RW, FIXED, EEXIST, "over the shm area"),
    (0xBFFFF000, PAGE, RW, FIXED, EEXIST, "over the stack"),
    (0xBFF00000 - PAGE, PAGE, RW, FIXED, EEXIST, "over the stack's guard page"),
    (0x80000000, PAGE, RW, PRIVATE | MAP_FIXED_NOREPLACE, EEXIST, "noreplace on the heap"),
    (0, 0x7FFFF000, RW, PRIVATE, ENOMEM, "more than the area holds"),
]


@pytest.mark.parametrize("addr,length,prot,flags,errno,why", BAD_MMAPS,
                         ids=[case[-1] for case in BAD_MMAPS])
def test_bad_mmap_is_refused_and_changes_nothing(vm, addr, length, prot, flags, errno, why):
    vm.do("mmap", 0x60000000, 2 * PAGE, RW, FIXED)  # something to leave alone
    vm.do("write", 0x60000000, value=5)
    before = vm.state()
    assert vm.do("mmap", addr, length, prot, flags) == -errno, why
    assert vm.state() == before


BAD_CHANGES = [  # (op, addr, len, prot, errno, why)
    ("munmap", 0xBFFFF000, PAGE, 0, EINVAL, "munmap of the stack"),
    ("munmap", 0x1000, PAGE, 0, EINVAL, "munmap of the text"),
    ("munmap", 0x80000000, PAGE, 0, EINVAL, "munmap of the heap"),
    ("munmap", 0x60000800, PAGE, 0, EINVAL, "unaligned"),
    ("munmap", 0x60000000, 0, 0, EINVAL, "len 0"),
    ("munmap", 0xC0000000, PAGE, 0, EINVAL, "the kernel half"),
    ("munmap", 0, PAGE, 0, EINVAL, "the null page"),
    ("munmap", 0x5FFFF000, 0xA0001000, 0, EINVAL, "a range past the top"),
    ("mprotect", 0x1000, PAGE, RW | PROT_EXEC, EACCES, "text to W+X"),
    ("mprotect", 0x1000, PAGE, RW, EINVAL, "text to writable"),
    ("mprotect", 0xBFFFF000, PAGE, RW | PROT_EXEC, EACCES, "the stack to W+X"),
    ("mprotect", 0xBFFFF000, PAGE, PROT_READ, EINVAL, "the stack"),
    ("mprotect", 0x60000000, 3 * PAGE, PROT_READ, ENOMEM, "beyond the mapping"),
    ("mprotect", 0x50000000, PAGE, PROT_READ, ENOMEM, "nothing mapped"),
    ("mprotect", 0x60000000, PAGE, 0x10, EINVAL, "an unknown prot bit"),
    ("mprotect", 0x60000800, PAGE, PROT_READ, EINVAL, "mprotect unaligned"),
    ("mprotect", 0x60000000, 0, PROT_READ, EINVAL, "mprotect len 0"),
    ("mprotect", 0xC0000000, PAGE, PROT_READ, EINVAL, "mprotect of the kernel half"),
    ("mprotect", 0, PAGE, PROT_READ, EINVAL, "mprotect of the null page"),
    ("mprotect", 0x61000000, PAGE, PROT_NONE, EINVAL, "a shared mapping to PROT_NONE"),
]


@pytest.mark.parametrize("op,addr,length,prot,errno,why", BAD_CHANGES,
                         ids=[case[-1] for case in BAD_CHANGES])
def test_bad_munmap_and_mprotect_are_refused_and_change_nothing(vm, op, addr, length, prot,
                                                               errno, why):
    vm.do("mmap", 0x60000000, 2 * PAGE, RW, FIXED)
    vm.do("mmap", 0x61000000, PAGE, RW, SHARED | MAP_FIXED)
    vm.do("write", 0x60000000, value=5)
    before = vm.state()
    assert vm.do(op, addr, length, prot) == -errno, why
    assert vm.state() == before
    assert vm.do("read", 0x60000000) == 5


def test_a_refusal_leaves_a_record(vm, machine):
    mark = machine.mark()
    assert vm.do("mmap", 0xC0000000, PAGE, RW, FIXED) == -EINVAL
    [record] = machine.records("MMAP", since=mark)
    assert (record["error"], record["op"], record.int("addr")) == ("kernel-half", "mmap",
                                                                   0xC0000000)


def test_the_stack_survives_an_attempt_to_unmap_it(vm):
    top = vm.process()["stack_top"]
    stack = vm.ptes(top - 0x10000, top)
    assert stack, "the stack is in use"
    assert vm.do("munmap", top - 0x10000, 0x10000) == -EINVAL
    assert vm.ptes(top - 0x10000, top) == stack
    assert vm.do("getrlimit", value=0) > 0, "and the program runs on"


def test_mprotect_adds_write_as_cow_to_a_frame_shared_by_fork(vm, kernel):
    """fork shares a read-only private page as it is (no COW, two references).
    mprotect adding PROT_WRITE in the parent must then set PAGE_COW, not
    PAGE_WRITE (the child would see the parent's writes); the write copies
    into a new frame and leaves the child's page as it was.  The child, now
    the only holder, gets PAGE_WRITE itself."""
    a = vm.do("mmap", 0, PAGE, PROT_READ, PRIVATE)
    assert vm.do("read", a) == 0
    frame, _ = vm.ptes(a, a + PAGE)[a]
    child = vm.fork()
    for d in (vm, child):
        assert d.ptes(a, a + PAGE)[a][0] == frame
        assert d.ptes(a, a + PAGE)[a][1] & (WRITE_BIT | PAGE_COW) == 0, "read-only, not COW"
    assert vm.frame_refs(frame) == (2, 0)
    assert vm.do("mprotect", a, PAGE, RW) == 0
    assert vm.ptes(a, a + PAGE)[a][1] & (WRITE_BIT | PAGE_COW) == PAGE_COW
    assert vm.frame_refs(frame) == (2, FRAME_COW)
    assert violations(kernel) == []
    assert vm.do("write", a + 8, value=0x5EED) == 0
    mine, bits = vm.ptes(a, a + PAGE)[a]
    assert mine != frame and bits & (WRITE_BIT | PAGE_COW) == WRITE_BIT, "copied, writable"
    assert vm.frame_refs(mine) == (1, 0)
    assert vm.frame_refs(frame)[0] == 1
    assert child.ptes(a, a + PAGE)[a][0] == frame
    assert vm.read_page(a)[8:12] == (0x5EED).to_bytes(4, "little")
    assert child.read_page(a) == bytes(PAGE), "the child's page untouched"
    assert child.do("mprotect", a, PAGE, RW) == 0
    assert child.ptes(a, a + PAGE)[a] == (frame, child.ptes(a, a + PAGE)[a][1])
    assert child.ptes(a, a + PAGE)[a][1] & (WRITE_BIT | PAGE_COW) == WRITE_BIT, "its own now"
    assert child.do("write", a, value=7) == 0 and child.ptes(a, a + PAGE)[a][0] == frame
    assert vm.frame_refs(frame) == (1, 0)


def test_a_cow_copy_may_leave_frame_cow_behind_and_the_next_mprotect_clears_it(vm, kernel):
    """The same start (mprotect(RW) after fork in the parent, which writes and
    copies).  The child's read-only PTE is now the old frame's only one, not
    COW: FRAME_COW stays (it may outlive the last COW entry, frame.h; the
    kernel cannot see the child's entry from the parent's fault) and the
    audit holds.  The child's mprotect(RW) finds one reference and clears it."""
    a = vm.do("mmap", 0, PAGE, PROT_READ, PRIVATE)
    assert vm.do("read", a) == 0
    frame, _ = vm.ptes(a, a + PAGE)[a]
    child = vm.fork()
    assert vm.do("mprotect", a, PAGE, RW) == 0
    assert vm.do("write", a, value=1) == 0
    assert vm.frame_refs(frame) == (1, FRAME_COW)
    assert violations(kernel) == []
    assert child.do("mprotect", a, PAGE, RW) == 0
    assert vm.frame_refs(frame) == (1, 0)
    assert violations(kernel) == []


def test_kernel_chosen_addresses_start_at_mmap_base(vm):
    base = vm.process()["mmap_base"]
    assert base == MMAP_AREA[0]
    assert vm.do("mmap", 0, PAGE, RW, PRIVATE) == base


@pytest.mark.machine(modules=["user/*"])  # ASLR on
def test_mmap_base_is_random_per_process_within_its_range(userland, kernel):
    """Spawned, not run: each process drew its own mmap_base."""
    pids = [userland.spawn("hello") for _ in range(8)]
    bases = [p["mmap_base"] for p in kernel.process_table() if p["pid"] in pids]
    assert len(bases) == 8
    assert all(MMAP_AREA[0] <= b < MMAP_AREA[0] + MMAP_BASE_SPAN and b % PAGE == 0
               for b in bases)
    assert len(set(bases)) > 1, "8 draws of 17 bits, all equal: not random"
    userland.run()


@pytest.mark.machine(modules=["user/*"])  # ASLR on
def test_with_aslr_the_first_address_is_the_process_mmap_base(userland):
    vm = VmDriver(userland)
    base = vm.process()["mmap_base"]
    assert vm.do("mmap", 0, PAGE, RW, PRIVATE) == base
    vm.finish()


def test_fixed_mappings_may_touch_the_areas_they_may_not_overlap(vm):
    """The page right after the image and the one right below the stack's
    guard page are free to map."""
    p = vm.process()
    after_image = -(-p["image_end"] // PAGE) * PAGE
    below_guard = p["stack_limit"] - 2 * PAGE
    assert vm.do("mmap", after_image, PAGE, RW, FIXED) == after_image
    assert vm.do("mmap", below_guard, PAGE, RW, FIXED) == below_guard
    assert vm.regions() == [Region(after_image, after_image + PAGE, RW, MAP_PRIVATE),
                            Region(below_guard, below_guard + PAGE, RW, MAP_PRIVATE)]


def test_a_mapping_just_below_where_the_last_region_was_is_listed(vm):
    """The slot past the last region still holds what was unmapped from it;
    a new region ending where that one started must not be merged into it."""
    base = 0x50000000
    vm.do("mmap", base, PAGE, RW, FIXED)
    vm.do("mmap", base + 4 * PAGE, PAGE, PROT_READ, FIXED)
    assert vm.do("munmap", base + 4 * PAGE, PAGE) == 0
    assert vm.do("mmap", base + 3 * PAGE, PAGE, PROT_READ, FIXED) == base + 3 * PAGE
    assert vm.regions() == [Region(base, base + PAGE, RW, MAP_PRIVATE),
                            Region(base + 3 * PAGE, base + 4 * PAGE, PROT_READ, MAP_PRIVATE)]
