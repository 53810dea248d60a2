"""fork(): the child's address space is a copy-on-write copy of the parent's.
Judged from outside: the page tables as the harness walks them, the frame
table's reference counts and flags read from guest RAM, the PMM's counters;
the programs' own reports are only checked to agree."""

import pytest

from harness import CallStopped
from harness.targets.mmverify.invariants import frame_audit
from tests.process.pmm_budget import give_back

# zswap=off (and no swap disk): swap is off, so RAM emptied on purpose stays
# empty; with swap, reclaim would make room (tests/swap covers that).
pytestmark = pytest.mark.machine(modules=["user/*"], cmdline="aslr=off zswap=off")

PAGE_COW = 0x800    # include/mm/vmm.h: software PTE bit
FRAME_COW = 0x01    # include/mm/frame.h
PAGE = 4096
USER_STACK_TOP = 0xC0000000  # include/mm/uvm.h, with aslr=off


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


@pytest.mark.parametrize(("depth", "breadth"), [(2, 3), (3, 2), (5, 1)])
def test_a_fork_tree_gives_every_process_its_own_copy(machine, userland, kernel, depth, breadth):
    """forker DEPTH BREADTH: every process checks that it inherited its
    parent's heap page and data word and that its own writes stay its own.
    The FORK records must draw exactly that tree; every frame comes back."""
    before = free_frames(machine, kernel)
    mark = machine.mark()
    root = userland.spawn("forker", f"{depth} {breadth}")
    results = userland.run()
    total = sum(breadth ** level for level in range(depth + 1))
    assert len(results) == total
    assert {pid: (r.killed, r.status) for pid, r in results.items()} == \
        {pid: (False, 0) for pid in results}
    forks = machine.records("FORK", since=mark)
    parent_of = {f.int("child"): f.int("parent") for f in forks}
    assert len(forks) == total - 1 and set(parent_of) == set(results) - {root}
    level = {root: 0}
    for child in sorted(parent_of):  # pids grow: a parent forks before its children do
        level[child] = level[parent_of[child]] + 1
    for pid, lv in level.items():
        children = [c for c, p in parent_of.items() if p == pid]
        assert len(children) == (breadth if lv < depth else 0), f"pid {pid} at level {lv}"
    for f in forks:  # heap, stack, data at least are copy-on-write
        assert f.int("cow") >= 3 and f.int("pages") >= f.int("cow") + f.int("shared")
    claims = [c for c in userland.claims("USER") if c["prog"] == "forker"]
    assert sorted((c.int("pid"), c.int("level")) for c in claims) == sorted(level.items())
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


def test_text_stays_shared_read_only_without_cow(machine, userland, kernel):
    """Both processes map the one text frame, read-only, no PAGE_COW, and fork
    did not mark the frame FRAME_COW either (only writable pages are)."""
    pid = userland.spawn("cowpair", "child")
    text = userland.symbol("cowpair", "main") & ~(PAGE - 1)
    machine.break_at(userland.symbol("cowpair", "checkpoint"))
    assert stop_at_checkpoint(machine)
    child = next(p.pid for p in userland.processes() if p.pid != pid)
    (ppte, ppa), (cpte, cpa) = leaf(userland, pid, text), leaf(userland, child, text)
    assert ppa == cpa and not ppte.write and not cpte.write
    assert not ppte.raw & PAGE_COW and not cpte.raw & PAGE_COW
    text_frame = kernel.frame_table()[ppa >> 12]
    assert (text_frame.refs, text_frame.flags) == (2, 0)
    machine.delete_breakpoints()
    machine.cont()


def user_mappings(userland, pid):
    """pid's user pages as (va, pa, flags) with the accessed and dirty bits
    (the CPU's, not the kernel's) masked."""
    return [(m.va, m.pa, m.flags & ~0x60)
            for m in userland.address_space(pid).mappings(0, 0xC0000000)]



# What fork allocates, in order: the kernel stack (2 frames), the directory
# (legacy 1 frame; PAE the PDPT page and 3 page directories), then a page
# table for each of forkonce's: text, heap and stack (3).  Each budget runs
# out at one of these steps.
FORK_STEPS = {"kernel-stack": lambda d: 1, "directory": lambda d: 2 + d - 1,
              "first-table": lambda d: 2 + d, "last-table": lambda d: 2 + d + 2}


@pytest.mark.parametrize("step", FORK_STEPS)
def test_a_fork_out_of_frames_fails_and_changes_nothing(machine, userland, kernel, paging, step):
    """forkonce needs 2 frames to reach its fork (its heap page and the page
    table for it); fork then gets too few for the step under test.  It must
    return -ENOMEM with the parent's entries, the free-frame count and the
    process table exactly as before, and no FORK record."""
    directory_frames = 4 if paging == "pae" else 1
    before_run = free_frames(machine, kernel)
    pid = userland.spawn("forkonce")
    assert machine.call("agent_pmm_exhaust") > 0
    give_back(machine, 2 + FORK_STEPS[step](directory_frames))
    machine.break_at(userland.symbol("forkonce", "checkpoint"))
    assert stop_at_checkpoint(machine)  # checkpoint(0), before the fork
    mappings, free = user_mappings(userland, pid), kernel.pmm_stats()["free_frames"]
    table = [(p["pid"], p["state"]) for p in kernel.process_table()]
    mark = machine.mark()
    machine.cont()  # checkpoint(rc), after it
    esp = machine.registers("esp")["esp"]
    assert int.from_bytes(userland.read(pid, esp + 4, 4), "little", signed=True) == -12
    assert user_mappings(userland, pid) == mappings, "the parent's entries are unchanged"
    assert kernel.pmm_stats()["free_frames"] == free, "every frame fork took came back"
    assert [(p["pid"], p["state"]) for p in kernel.process_table()] == table
    assert machine.records("FORK", since=mark) == []
    machine.delete_breakpoints()
    machine.cont()
    machine.call("agent_pmm_release")
    assert userland.history()[pid].status == 12
    assert free_frames(machine, kernel) == before_run


def test_a_fork_with_just_enough_frames_works_and_a_copy_without_one_kills(
        machine, userland, kernel, paging):
    """The budget one frame above the last failing step: the fork works (so
    the steps above are counted right) and leaves no frame free.  The
    parent's next write (its call pushes onto its copy-on-write stack) needs
    a copy and gets none: killed out-of-memory at its stack.  The child, now
    the last holder of every page, takes them back without a frame."""
    directory_frames = 4 if paging == "pae" else 1
    before_run = free_frames(machine, kernel)
    pid = userland.spawn("forkonce")
    assert machine.call("agent_pmm_exhaust") > 0
    give_back(machine, 2 + 2 + directory_frames + 3)
    mark = machine.mark()
    results = userland.run()
    machine.call("agent_pmm_release")
    [fork] = machine.records("FORK", since=mark)
    child = fork.int("child")
    assert (fork.int("parent"), set(results)) == (pid, {pid, child})
    parent = results[pid]
    assert (parent.killed, parent.reason) == (True, "out-of-memory")
    assert USER_STACK_TOP - PAGE <= parent.addr < USER_STACK_TOP, "at its stack page"
    assert (results[child].killed, results[child].status) == (False, 0)
    assert free_frames(machine, kernel) == before_run


def test_a_system_call_writing_a_cow_page_copies_it_first(machine, userland, kernel):
    """cowbuf's child waitpid()s with the status pointer in a heap page it
    shares copy-on-write with its parent: the kernel's copy_to_user must
    fault and copy, never write the shared frame.  At the child's checkpoint
    the parent's frame still holds only 0x5A bytes, the child's own copy
    holds the status 77, and they are different frames."""
    pid = userland.spawn("cowbuf", "waitpid")
    heap = userland.process(pid).heap_base
    machine.break_at(userland.symbol("cowbuf", "checkpoint"))
    assert stop_at_checkpoint(machine)  # checkpoint(1), in the child after its waitpid
    child = next(p.pid for p in userland.processes() if p.pid not in (pid,))
    _, parent_pa = leaf(userland, pid, heap)
    cpte, child_pa = leaf(userland, child, heap)
    assert parent_pa != child_pa
    assert machine.read_phys(parent_pa, PAGE) == b"\x5a" * PAGE, "the shared frame unchanged"
    assert machine.read_phys(child_pa, PAGE) == (77).to_bytes(4, "little") + b"\x5a" * (PAGE - 4)
    assert cpte.write and not cpte.raw & PAGE_COW
    machine.delete_breakpoints()
    machine.cont()
    results = userland.history()
    assert sorted((r.killed, r.status) for r in results.values()) == \
        [(False, 0), (False, 0), (False, 77)]
    assert (results[pid].status, results[child].status) == (0, 0)


def test_read_into_a_cow_buffer_copies_it_first(machine, userland, kernel):
    """The same attack through read(0, ...): 8 bytes typed on COM1 land in
    the child's own copy of the page; the parent's frame keeps its 0x5A."""
    mark = machine.mark()
    pid = userland.spawn("cowbuf", "read")
    heap = userland.process(pid).heap_base
    machine.console.send(b"ABCDEFGH")
    machine.break_at(userland.symbol("cowbuf", "checkpoint"))
    assert stop_at_checkpoint(machine)  # checkpoint(1), in the child after its read
    child = next(p.pid for p in userland.processes() if p.pid != pid)
    _, parent_pa = leaf(userland, pid, heap)
    _, child_pa = leaf(userland, child, heap)
    assert parent_pa != child_pa
    assert machine.read_phys(parent_pa, PAGE) == b"\x5a" * PAGE, "the shared frame unchanged"
    [record] = [r for r in machine.records("IN", since=mark) if r.int("pid") == child]
    data = record.bytes("data")  # what the kernel read: the typed bytes, maybe not all yet
    assert data and b"ABCDEFGH".startswith(data)
    assert machine.read_phys(child_pa, PAGE) == data + b"\x5a" * (PAGE - len(data))
    machine.delete_breakpoints()
    machine.cont()
    results = userland.history()
    assert (results[pid].status, results[child].status) == (0, 0)


def test_a_thousand_fork_exit_cycles_lose_no_frame(machine, userland, kernel):
    """forkleak: 1000 rounds of fork, a copying write in the child, exit and
    waitpid.  Afterwards the PMM's free count and every number of the frame
    audit (frames held, references, PAGE_OWNED PTEs, kernel references, COW
    PTEs) are back exactly, with no violation: every reference taken was
    dropped."""
    before, audit = free_frames(machine, kernel), frame_audit(kernel)
    stats = kernel.read_struct("frame_stats", "frame_stats")
    pid = userland.spawn("forkleak", "1000")
    results = userland.run(timeout=240)
    assert len(results) == 1001
    assert (results[pid].killed, results[pid].status) == (False, 0)
    assert free_frames(machine, kernel) == before
    after = frame_audit(kernel)
    moved = {k: v - stats[k] for k, v in kernel.read_struct("frame_stats", "frame_stats").items()
             if k in ("refs_taken", "refs_dropped", "freed", "errors")}
    print(f"after 1000 fork/exit cycles: audit {after}; frame_stats {moved}")  # pytest -s
    assert after == audit and after.problems == ()
    assert moved["refs_taken"] == moved["refs_dropped"] >= 1000 * 3 and moved["errors"] == 0


def test_shared_memory_stays_shared_and_writable_across_fork(machine, userland, kernel):
    """forkshm's segment page after the fork: the same frame in both, writable,
    no COW bit, three references (the segment's and two mappings), and the
    segment counts the child's attachment; the child's write is the parent's."""
    mark = machine.mark()
    pid = userland.spawn("forkshm")
    machine.break_at(userland.symbol("forkshm", "checkpoint"))
    assert stop_at_checkpoint(machine)
    child = next(p.pid for p in userland.processes() if p.pid != pid)
    [segment] = kernel.shm_segments()
    va = next(a[1] for a in kernel.process_table()[0]["shm"] if a[0] == segment["id"])
    (ppte, ppa), (cpte, cpa) = leaf(userland, pid, va), leaf(userland, child, va)
    assert ppa == cpa == segment["frames"][0]
    assert ppte.write and cpte.write and not (ppte.raw | cpte.raw) & PAGE_COW
    assert frame_info(machine, ppa)[0] == 3
    assert segment["refs"] == 3, "creator, the parent's attachment, the child's"
    [fork] = machine.records("FORK", since=mark)
    assert fork.int("shared") == 1
    machine.delete_breakpoints()
    machine.cont()
    assert userland.history()[pid].status == 0
    assert kernel.shm_segments() == []


PROC_MAX = 16  # include/kernel/proc.h


def test_fork_with_the_process_table_full_is_eagain_and_takes_nothing(machine, userland,
                                                                     kernel):
    """forkmany forks 17 times: 15 children fill the table (with the parent,
    PROC_MAX), the last two forks return -EAGAIN and take no frame."""
    before = free_frames(machine, kernel)
    mark = machine.mark()
    pid = userland.spawn("forkmany", "17")
    machine.break_at(userland.symbol("forkmany", "checkpoint"))
    assert stop_at_checkpoint(machine)
    got = [int.from_bytes(userland.read(pid, userland.symbol("forkmany", "got") + 4 * i, 4),
                          "little", signed=True) for i in range(17)]
    children = [f.int("child") for f in machine.records("FORK", since=mark)]
    assert got == [*children, -11, -11] and len(children) == PROC_MAX - 1
    assert len(kernel.process_table()) == PROC_MAX
    machine.delete_breakpoints()
    machine.cont()
    assert userland.history()[pid].status == 0
    assert free_frames(machine, kernel) == before


def test_read_blocks_until_input_arrives(machine, userland):
    """cowbuf's child reads with nothing typed yet: it polls (the kernel's
    input routine runs again and again, the process stays alive), and once
    bytes arrive its read returns them."""
    mark = machine.mark()
    pid = userland.spawn("cowbuf", "read")
    machine.break_at("shell_read_input")
    assert stop_at_checkpoint(machine)  # the first poll: nothing there
    for _ in range(3):
        machine.cont()  # polled again: still waiting
    assert len(userland.processes()) == 2
    assert machine.records("IN", since=mark) == []
    machine.console.send(b"xyz")
    machine.delete_breakpoints()
    machine.cont()
    results = userland.history()
    assert results[pid].status == 0 and len(results) == 2
    [record] = machine.records("IN", since=mark)
    assert b"xyz".startswith(record.bytes("data")) and record.bytes("data")


def test_the_audit_holds_in_the_middle_of_a_fork_tree(machine, userland, kernel):
    """forker 2 3 stopped at every waitpid (a process about to wait for its
    children, or to learn one ended): each time the host-side audit
    (references, COW bits, sharing, over every live address space) must find
    nothing, once with the whole tree of 13 processes alive."""
    from harness.targets.mmverify.invariants import violations

    userland.spawn("forker", "2 3")
    waitpid = machine.symbol("proc_waitpid")
    machine.break_at(waitpid)
    stops, most = 0, 0
    stopped = stop_at_checkpoint(machine)
    while stopped:
        assert machine.registers("eip")["eip"] == waitpid
        most = max(most, len(userland.processes()))
        assert violations(kernel) == [], f"at waitpid stop {stops}"
        stops += 1
        stopped = machine.cont().addr == waitpid
    machine.delete_breakpoints()
    assert most == 13 and stops >= 13
    results = userland.history()
    assert len(results) == 13 and all(not r.killed and r.status == 0 for r in results.values())
