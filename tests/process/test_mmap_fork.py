"""fork meets mmap: what a fork does to private, shared and guard regions,
judged from outside: both processes' PTEs through the walker, the frame
table's reference counts and flags from guest RAM, page contents through
each process's own page tables, how a process ended, and the host-side audit
(invariants.py) in the middle of the run as well as after it."""

import pytest

from harness.targets.mmverify.invariants import violations
from tests.process.vmdriver import (
    MAP_PRIVATE,
    MAP_SHARED,
    PAGE,
    PAGE_COW,
    PRIVATE,
    PROT_NONE,
    PROT_READ,
    RW,
    SHARED,
    ProcessEnded,
    Region,
)

pytestmark = pytest.mark.machine(modules=["user/*"], cmdline="aslr=off")

WRITE_BIT = 0x2
FRAME_COW = 0x01  # include/mm/frame.h



def bits(pte_flags):
    return pte_flags & (WRITE_BIT | PAGE_COW)


def test_cow_of_one_page_in_the_middle_of_a_large_private_mapping(vm, kernel):
    """256 private pages, all touched, then fork: all 256 are one frame in
    both, read-only + COW, two references, FRAME_COW.  The child's write to
    page 128 gives exactly that page a new frame in the child; the other 255
    still share.  The parent's page 128 keeps the old frame, now its only
    reference, and the parent's write takes it back in place (no frame
    allocated, COW gone)."""
    n, mid = 256, 128
    a = vm.do("mmap", 0, n * PAGE, RW, PRIVATE)
    assert vm.do("touch", a, n * PAGE, value=0x1000) == 0
    before = vm.ptes(a, a + n * PAGE)
    assert len(before) == n and len({pa for pa, _ in before.values()}) == n
    child = vm.fork()
    for d in (vm, child):
        ptes = d.ptes(a, a + n * PAGE)
        assert {va: pa for va, (pa, _) in ptes.items()} == \
            {va: pa for va, (pa, _) in before.items()}, f"pid {d.pid}: the same frames"
        assert {bits(f) for _, f in ptes.values()} == {PAGE_COW}, f"pid {d.pid}: all COW"
    assert {vm.frame_refs(pa) for pa, _ in before.values()} == {(2, FRAME_COW)}

    target = a + mid * PAGE
    old = before[target][0]
    assert child.do("write", target + 4, value=0xC41D) == 0
    cptes, pptes = child.ptes(a, a + n * PAGE), vm.ptes(a, a + n * PAGE)
    new, new_bits = cptes[target]
    assert new != old and bits(new_bits) == WRITE_BIT, "the child's page 128: a new frame"
    assert vm.frame_refs(new) == (1, 0)
    assert new not in {pa for pa, _ in before.values()}
    others = {va: v for va, v in cptes.items() if va != target}
    assert {va: pa for va, (pa, _) in others.items()} == \
        {va: pa for va, (pa, _) in before.items() if va != target}, "the 255 others still share"
    assert {bits(f) for _, f in others.values()} == {PAGE_COW}
    assert {vm.frame_refs(pa) for pa, _ in others.values()} == {(2, FRAME_COW)}
    assert pptes == {va: (pa, pptes[va][1]) for va, (pa, _) in before.items()}, \
        "the parent's frames all unchanged"
    assert bits(pptes[target][1]) == PAGE_COW
    assert vm.frame_refs(old) == (1, FRAME_COW), "its last holder still maps it COW"
    assert violations(kernel) == []

    free = vm.free_frames()
    assert vm.do("write", target + 8, value=0xBA5E) == 0
    frame, flags = vm.ptes(target, target + PAGE)[target]
    assert (frame, bits(flags)) == (old, WRITE_BIT), "taken back in place"
    assert vm.frame_refs(old) == (1, 0) and vm.free_frames() == free, "no new frame"
    page = vm.read_page(target)
    assert page[:12] == (0x1000 + mid).to_bytes(4, "little") + bytes(4) + \
        (0xBA5E).to_bytes(4, "little")
    page = child.read_page(target)
    assert page[:12] == (0x1000 + mid).to_bytes(4, "little") + \
        (0xC41D).to_bytes(4, "little") + bytes(4)
    for i in (0, mid - 1, mid + 1, n - 1):
        assert vm.do("read", a + i * PAGE) == child.do("read", a + i * PAGE) == 0x1000 + i
    assert violations(kernel) == []


def test_fork_keeps_shared_regions_shared_and_guards_guards(vm, kernel):
    """A MAP_SHARED region is the same frames, writable, in both (exactly one
    reference per mapping, no FRAME_COW), and a write in either shows in
    the other; a PROT_NONE region is a guard in the child too: its touch
    kills the child with reason guard and leaves the parent's shared
    frames one reference each."""
    s = vm.do("mmap", 0, 4 * PAGE, RW, SHARED)
    g = vm.do("mmap", 0, 2 * PAGE, PROT_NONE, PRIVATE)
    assert vm.do("write", s + PAGE, value=11) == 0
    shared = vm.ptes(s, s + 4 * PAGE)
    child = vm.fork()
    assert child.regions() == vm.regions() == [
        Region(s, s + 4 * PAGE, RW, MAP_SHARED), Region(g, g + 2 * PAGE, PROT_NONE, MAP_PRIVATE)]
    for d in (vm, child):
        ptes = d.ptes(s, s + 4 * PAGE)
        assert {va: pa for va, (pa, _) in ptes.items()} == \
            {va: pa for va, (pa, _) in shared.items()}, f"pid {d.pid}: the same frames"
        assert {bits(f) for _, f in ptes.values()} == {WRITE_BIT}, f"pid {d.pid}: writable"
        assert d.ptes(g, g + 2 * PAGE) == {}
    assert {vm.frame_refs(pa) for pa, _ in shared.values()} == {(2, 0)}
    assert child.do("read", s + PAGE) == 11
    assert child.do("write", s + 2 * PAGE, value=22) == 0
    assert vm.do("read", s + 2 * PAGE) == 22, "the child's write shows in the parent"
    assert vm.do("write", s + 3 * PAGE + 4, value=33) == 0
    assert child.do("read", s + 3 * PAGE + 4) == 33, "and the parent's in the child"
    assert {va: pa for va, (pa, _) in child.ptes(s, s + 4 * PAGE).items()} == \
        {va: pa for va, (pa, _) in shared.items()}, "still the same frames"
    assert {vm.frame_refs(pa) for pa, _ in shared.values()} == {(2, 0)}, "no copy was made"
    assert violations(kernel) == []

    with pytest.raises(ProcessEnded) as ended:
        child.do("read", g + PAGE + 8)
    assert (ended.value.result.reason, ended.value.result.addr) == ("guard", g + PAGE + 8)
    assert {vm.frame_refs(pa) for pa, _ in shared.values()} == {(1, 0)}
    assert vm.do("read", s + 2 * PAGE) == 22
    assert violations(kernel) == []
    with pytest.raises(ProcessEnded) as ended:
        vm.do("write", g, value=1)
    assert (ended.value.result.reason, ended.value.result.addr) == ("guard", g)


def test_a_written_page_made_read_only_is_shared_without_cow(vm, kernel):
    """Pages written (the CPU set their dirty bit), then mprotect'ed read-only:
    fork shares their frames read-only as they are, not copy-on-write (no
    PAGE_COW, no FRAME_COW): neither process may write them, so nothing will
    ever be copied.  mprotect back to read-write then gives each COW, as
    the frames have two references."""
    a = vm.do("mmap", 0, 2 * PAGE, RW, PRIVATE)
    assert vm.do("touch", a, 2 * PAGE, value=0x77) == 0
    assert vm.do("mprotect", a, 2 * PAGE, PROT_READ) == 0
    before = vm.ptes(a, a + 2 * PAGE)
    assert {bits(f) for _, f in before.values()} == {0}
    child = vm.fork()
    for d in (vm, child):
        ptes = d.ptes(a, a + 2 * PAGE)
        assert {va: pa for va, (pa, _) in ptes.items()} == \
            {va: pa for va, (pa, _) in before.items()}, f"pid {d.pid}: the same frames"
        assert {bits(f) for _, f in ptes.values()} == {0}, f"pid {d.pid}: read-only, no COW"
    assert {vm.frame_refs(pa) for pa, _ in before.values()} == {(2, 0)}
    assert child.do("mprotect", a, 2 * PAGE, RW) == 0
    assert {bits(f) for _, f in child.ptes(a, a + 2 * PAGE).values()} == {PAGE_COW}
    assert violations(kernel) == []


def test_prot_none_on_a_page_fork_shares_keeps_it_and_takes_the_access_away(vm, userland, kernel):
    """A private page fork left COW in both, made PROT_NONE in the parent:
    the parent's entry becomes a PROT_NONE entry of the same frame (not
    present: no access), no VMM refusal, the child keeps its COW mapping and
    the frame its two references.  (vmm_protnone refusing COW entries as
    "not-owned" left the page present and readable under PROT_NONE, with
    mprotect reporting success.)"""
    a = vm.do("mmap", 0, PAGE, RW, PRIVATE)
    assert vm.do("write", a, value=0x5EED) == 0
    [(frame, _)] = vm.ptes(a, a + PAGE).values()
    child = vm.fork()
    assert bits(vm.ptes(a, a + PAGE)[a][1]) == PAGE_COW
    mark = vm.m.mark()
    assert vm.do("mprotect", a, PAGE, PROT_NONE) == 0
    assert vm.m.records("VMM", since=mark) == [], "no refusal"
    assert vm.ptes(a, a + PAGE) == {}, "no present entry left in the parent"
    kept = {m.va: m.pa for m in userland.address_space(vm.pid).protnone_pages(a, a + PAGE)}
    assert kept == {a: frame}
    assert child.ptes(a, a + PAGE)[a][0] == frame and bits(child.ptes(a, a + PAGE)[a][1]) == \
        PAGE_COW
    assert vm.frame_refs(frame) == (2, FRAME_COW)
    assert child.do("read", a) == 0x5EED
    assert violations(kernel) == []
