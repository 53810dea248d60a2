"""The kernel's per-process and shared-memory limits, each reached exactly
and then exceeded by one: SHM_MAX_PAGES (256) pages in a segment, SHM_MAX
(16) segments, PROC_SHM_MAX (4) attachments per process, PROC_MAX_PAGES
(4096) pages reserved by a process.  Through the kernel's own calls on
processes spawned and not yet run; the refused call changes nothing."""

import pytest

from harness.targets.mmverify.invariants import violations

pytestmark = pytest.mark.machine(modules=["user/*"], cmdline="aslr=off")

PAGE = 4096
ENOMEM, EAGAIN, EINVAL = -12, -11, -22
SHM_MAX_PAGES, SHM_MAX, PROC_SHM_MAX, PROC_MAX_PAGES = 256, 16, 4, 4096


def spawned(machine, userland, kernel):
    """A hello spawned, not run: (pid, its process table entry's address)."""
    pid = userland.spawn("hello")
    size = kernel.layout("process").size
    table = machine.symbol("proc_table")
    for i, p in enumerate(kernel.read_array("process", table, 16)):
        if p["pid"] == pid and p["state"]:
            return pid, table + i * size
    raise KeyError(pid)


def entry(kernel, pid):
    return next(p for p in kernel.process_table() if p["pid"] == pid)


def unchanged(machine, kernel, call, args, rc):
    """``call`` returns ``rc`` and leaves the PMM, the segments and the
    process table as they were."""
    state = (kernel.pmm_stats()["free_frames"], kernel.shm_segments(), kernel.process_table())
    assert machine.call(call, *args) == rc
    assert (kernel.pmm_stats()["free_frames"], kernel.shm_segments(),
            kernel.process_table()) == state


def test_pages_in_a_segment(machine, userland, kernel):
    _, p = spawned(machine, userland, kernel)
    unchanged(machine, kernel, "shm_create", (p, SHM_MAX_PAGES + 1), EINVAL)
    unchanged(machine, kernel, "shm_create", (p, 0), EINVAL)
    free = kernel.pmm_stats()["free_frames"]
    seg = machine.call("shm_create", p, SHM_MAX_PAGES)
    assert seg > 0 and [len(s["frames"]) for s in kernel.shm_segments()] == [SHM_MAX_PAGES]
    assert free - kernel.pmm_stats()["free_frames"] >= SHM_MAX_PAGES
    assert violations(kernel) == []
    userland.run()
    assert kernel.shm_segments() == []


def test_segments_at_once(machine, userland, kernel):
    _, p = spawned(machine, userland, kernel)
    ids = [machine.call("shm_create", p, 1) for _ in range(SHM_MAX)]
    assert ids == list(range(1, SHM_MAX + 1))
    unchanged(machine, kernel, "shm_create", (p, 1), EAGAIN)
    assert violations(kernel) == []
    userland.run()
    assert kernel.shm_segments() == [], "the creator's exit dropped all sixteen"
    _, q = spawned(machine, userland, kernel)
    assert machine.call("shm_create", q, 1) == SHM_MAX + 1, "room again; ids never reused"
    userland.run()


def test_attachments_per_process(machine, userland, kernel):
    pid, p = spawned(machine, userland, kernel)
    assert entry(kernel, pid)["shm"] == [(-1, 0, 0)] * PROC_SHM_MAX, "all unused: id -1"
    ids = [machine.call("shm_create", p, 1) for _ in range(PROC_SHM_MAX + 1)]
    vas = [machine.call("shm_attach", p, i) & 0xFFFFFFFF for i in ids[:PROC_SHM_MAX]]
    assert vas == [0xA0000000 + k * PAGE for k in range(PROC_SHM_MAX)], "first fit, in order"
    unchanged(machine, kernel, "shm_attach", (p, ids[-1]), EAGAIN)
    assert [s["refs"] for s in kernel.shm_segments()] == [2] * PROC_SHM_MAX + [1]
    assert violations(kernel) == []
    # A detached slot is free again, and its place in the area too.
    assert machine.call("shm_detach", p, vas[1]) == 0
    assert entry(kernel, pid)["shm"][1] == (-1, vas[1], 1), "slot 1 unused: id -1 (proc.h)"
    assert machine.call("shm_attach", p, ids[-1]) & 0xFFFFFFFF == vas[1]
    assert violations(kernel) == []
    userland.run()
    assert kernel.shm_segments() == []


def test_pages_a_process_may_reserve(machine, userland, kernel):
    """The heap and attachments share PROC_MAX_PAGES with the image and the
    stack: brk up to exactly the limit works, a page more is refused, and so
    is an attachment that would cross it."""
    pid, p = spawned(machine, userland, kernel)
    heap = entry(kernel, pid)["heap_base"]
    room = PROC_MAX_PAGES - entry(kernel, pid)["reserved_pages"]
    assert machine.call("uvm_brk", p, heap + room * PAGE) == 0
    assert entry(kernel, pid)["reserved_pages"] == PROC_MAX_PAGES
    unchanged(machine, kernel, "uvm_brk", (p, heap + room * PAGE + 1), ENOMEM)
    seg = machine.call("shm_create", p, 1)
    unchanged(machine, kernel, "shm_attach", (p, seg), ENOMEM)
    assert machine.call("uvm_brk", p, heap + (room - 1) * PAGE) == 0, "one page back"
    assert machine.call("shm_attach", p, seg) & 0xFFFFFFFF == 0xA0000000
    assert entry(kernel, pid)["reserved_pages"] == PROC_MAX_PAGES
    assert violations(kernel) == []
    userland.run()


def test_an_attachment_that_runs_out_of_page_tables_half_way_maps_nothing(machine, userland,
                                                                          kernel):
    """A 3-page attachment whose last page needs a new page table, with no
    frame left for it: -ENOMEM, and the two pages already mapped are taken
    back.  The attachment area is moved (shm_base, written in the process
    table) to end two pages before a page-table boundary."""
    pid, p = spawned(machine, userland, kernel)
    shm_base = kernel.address_space_field(p, "shm_base")
    machine.write_u32(shm_base, 0xA0400000 - 2 * PAGE)
    first = machine.call("shm_create", p, 1)
    assert machine.call("shm_attach", p, first) & 0xFFFFFFFF == 0xA0400000 - 2 * PAGE
    assert machine.call("shm_detach", p, 0xA0400000 - 2 * PAGE) == 0  # its page table stays
    seg = machine.call("shm_create", p, 3)
    before = kernel.process_table(), kernel.shm_segments()
    assert machine.call("agent_pmm_exhaust") > 0
    assert machine.call("shm_attach", p, seg) == ENOMEM
    machine.call("agent_pmm_release")
    assert (kernel.process_table(), kernel.shm_segments()) == before
    aspace = userland.address_space(pid)
    assert [aspace.translate(0xA0400000 + k * PAGE).pa for k in (-2, -1, 0)] == [None] * 3
    assert violations(kernel) == []
    userland.run()


def test_first_fit_steps_over_attachments_in_any_slot_order(machine, userland, kernel):
    """The attachment area is searched until no attachment is in the way,
    whichever table slot each sits in: here slot 2's moves the search onto
    slot 1's, and that one onto slot 0's."""
    _, p = spawned(machine, userland, kernel)
    base = 0xA0000000

    def attach(pages):
        return machine.call("shm_attach", p, machine.call("shm_create", p, pages)) & 0xFFFFFFFF
    x = attach(1)
    assert (x, attach(1)) == (base, base + PAGE)          # slots 0 and 1
    assert machine.call("shm_detach", p, x) == 0          # slot 0 free
    assert attach(2) == base + 2 * PAGE                   # slot 0, past slot 1's
    assert attach(1) == base                              # slot 2, the hole
    assert attach(1) == base + 4 * PAGE                   # slot 3: past 2, then 1, then 0
    assert violations(kernel) == []
    userland.run()
