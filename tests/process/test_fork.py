"""fork(): the child's address space is a copy-on-write copy of the parent's.
Judged from outside: the page tables as the harness walks them, the frame
table's reference counts and flags read from guest RAM, the PMM's counters;
the programs' own reports are only checked to agree."""

import pytest

from harness import CallStopped

pytestmark = pytest.mark.machine(modules=["user/*"], cmdline="aslr=off")

PAGE_COW = 0x800    # include/mm/vmm.h: software PTE bit
FRAME_COW = 0x01    # include/mm/frame.h
PAGE = 4096


def frame_info(machine, pa):
    """(refs, flags) of the frame at pa, from the kernel's frame table
    (struct frame_info: refs u16, flags u8, node u8)."""
    table = machine.read_u32(machine.symbol("frame_table"))
    raw = machine.read(table + (pa // PAGE) * 4, 4)
    return int.from_bytes(raw[:2], "little"), raw[2]


def leaf(userland, pid, va):
    """The PTE mapping va in pid's space, as the harness's walker finds it."""
    t = userland.address_space(pid).translate(va)
    assert t.pte is not None and t.pa is not None, f"{va:#x} is not mapped in pid {pid}"
    return t.pte, t.pa - t.pa % PAGE


def free_frames(machine, kernel):
    machine.call("heap_trim")
    return kernel.pmm_stats()["free_frames"]


def test_a_fork_tree_gives_every_process_its_own_copy(machine, userland, kernel):
    """Depth 2, breadth 3: 13 processes, each checking that it inherited its
    parent's heap page and data word and that its own writes stay its own."""
    before = free_frames(machine, kernel)
    mark = machine.mark()
    root = userland.spawn("forker", "2 3")
    results = userland.run()
    assert len(results) == 13
    assert {pid: (r.killed, r.status) for pid, r in results.items()} == \
        {pid: (False, 0) for pid in results}
    forks = machine.records("FORK", since=mark)
    assert len(forks) == 12
    children = {f.int("child"): f.int("parent") for f in forks}
    assert sorted(children) == sorted(pid for pid in results if pid != root)
    level1 = [c for c, parent in children.items() if parent == root]
    assert len(level1) == 3
    assert sorted(p for p in children.values() if p != root) == sorted(level1 * 3)
    for f in forks:  # heap, stack, data at least are copy-on-write
        assert f.int("cow") >= 3 and f.int("pages") >= f.int("cow") + f.int("shared")
    claims = [c for c in userland.claims("USER") if c["prog"] == "forker"]
    assert sorted(c.int("level") for c in claims) == [0] + [1] * 3 + [2] * 9
    assert all(c.int("bad") == 0 for c in claims)
    assert free_frames(machine, kernel) == before, "every frame came back"


def stop_at_checkpoint(machine):
    """Run (or go on running) until a checkpoint stops the guest; False when
    the run ended instead."""
    try:
        machine.call("sched_run")
    except CallStopped:
        return True
    return False


@pytest.mark.parametrize("first", ["child", "parent"])
def test_parent_and_child_share_a_frame_until_each_writes(machine, userland, kernel, first):
    """After the fork the heap page is one frame, read-only + COW in both, two
    references, FRAME_COW.  The first writer gets a copy (distinct frames,
    each with its own value, one reference each); the one that remains after
    the other exits writes on in its own frame."""
    pid = userland.spawn("cowpair", first)
    heap = userland.process(pid).heap_base
    checkpoint = userland.symbol("cowpair", "checkpoint")
    machine.break_at(checkpoint, condition=f"$cr3 == {userland.process(pid).cr3:#x}")
    assert stop_at_checkpoint(machine)  # checkpoint(1): the parent, right after the fork
    child = next(p.pid for p in userland.processes() if p.pid != pid)
    (ppte, ppa), (cpte, cpa) = leaf(userland, pid, heap), leaf(userland, child, heap)
    assert ppa == cpa, "one frame before either writes"
    for pte in (ppte, cpte):
        assert not pte.write and pte.raw & PAGE_COW
    assert frame_info(machine, ppa) == (2, FRAME_COW)
    cow_faults = kernel.process_table()[0]["cow_faults"]  # its stack's, by the call
    machine.cont()  # checkpoint(2) in the parent: it wrote, so it copied
    (ppte, new_pa), (cpte, cpa) = leaf(userland, pid, heap), leaf(userland, child, heap)
    assert new_pa != cpa == ppa, "the writer got a new frame, the other kept the old"
    assert ppte.write and not ppte.raw & PAGE_COW
    assert machine.read_phys(new_pa, 4) == bytes.fromhex("b0b0b0b0")
    assert machine.read_phys(cpa, 4) == bytes.fromhex("a0a0a0a0"), "the shared frame unchanged"
    assert frame_info(machine, new_pa) == (1, 0)
    assert frame_info(machine, cpa) == (1, FRAME_COW), "the child still maps it COW"
    assert kernel.process_table()[0]["cow_faults"] == cow_faults + 1, "one fault for the page"
    machine.delete_breakpoints()
    machine.cont()
    results = userland.history()
    assert {p: (r.killed, r.status) for p, r in results.items()} == \
        {pid: (False, 0), child: (False, 0)}
    claims = [c for c in userland.claims("USER") if c["prog"] == "cowpair"]
    assert claims and all(c.int("bad") == 0 for c in claims)


def test_the_last_holder_takes_the_page_back_without_a_copy(machine, userland, kernel):
    """The child writes only after the parent wrote (and copied): it holds the
    last reference, so its write clears COW in place: same frame, no new one."""
    pid = userland.spawn("cowpair", "parent")
    heap = userland.process(pid).heap_base
    checkpoint = userland.symbol("cowpair", "checkpoint")
    machine.break_at(checkpoint)
    assert stop_at_checkpoint(machine)  # checkpoint(1), parent
    child = next(p.pid for p in userland.processes() if p.pid != pid)
    _, shared = leaf(userland, child, heap)
    machine.cont()  # checkpoint(2), parent: copied
    machine.cont()  # checkpoint(2), child (the parent has exited): took it back
    cpte, cpa = leaf(userland, child, heap)
    assert cpa == shared and cpte.write and not cpte.raw & PAGE_COW, "the same frame, writable"
    assert frame_info(machine, cpa) == (1, 0), "FRAME_COW cleared"
    machine.delete_breakpoints()
    machine.cont()
    assert all(not r.killed and r.status == 0 for r in userland.history().values())


def test_text_stays_shared_read_only_without_cow(machine, userland):
    pid = userland.spawn("cowpair", "child")
    text = userland.symbol("cowpair", "main") & ~(PAGE - 1)
    machine.break_at(userland.symbol("cowpair", "checkpoint"))
    assert stop_at_checkpoint(machine)
    child = next(p.pid for p in userland.processes() if p.pid != pid)
    (ppte, ppa), (cpte, cpa) = leaf(userland, pid, text), leaf(userland, child, text)
    assert ppa == cpa and not ppte.write and not cpte.write
    assert not ppte.raw & PAGE_COW and not cpte.raw & PAGE_COW
    machine.delete_breakpoints()
    machine.cont()
