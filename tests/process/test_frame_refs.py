"""Frame reference counts, judged from guest RAM: a shared-memory segment's
frames hold exactly one reference for the segment and one per attachment,
through create, attach, detach and exit in every order; and the audit that
ends every process test (harness/targets/mmverify/invariants.py) catches a
wrong count, a writable copy-on-write PTE and a PTE naming a free frame,
each poked into guest RAM, with its exact finding."""

import itertools

import pytest

from harness.decode.frames import FRAME_COW, FRAME_PINNED
from harness.decode.paging import COW, OWNED, PRESENT, USER, WRITE
from harness.targets.mmverify.invariants import frame_audit, frame_owners, violations

pytestmark = pytest.mark.machine(modules=["user/*"], cmdline="aslr=off")

PAGE = 4096
SHM_VA = 0xA0000000  # where a process's first attachment goes (aslr=off)
STACK_PAGE = 0xBFFFF000


def process_address(kernel, pid):
    """The kernel address of pid's struct process (what shm_* take)."""
    size = kernel.layout("process").size
    base = kernel.m.symbol("proc_table")
    for i in range(kernel.sizeof("proc_table") // size):
        p = kernel.read_struct("process", base + i * size)
        if p["state"] and p["pid"] == pid:
            return base + i * size
    raise KeyError(pid)


def refs_and_flags(kernel, frames):
    table = kernel.frame_table()
    return [(table[f // PAGE].refs, table[f // PAGE].flags) for f in frames]


def used(kernel, frames):
    bitmap, _ = kernel.pmm_bitmaps()
    return [bitmap[f // PAGE] for f in frames]


def pte_address(userland, pid, va, paging):
    """Physical address of the PTE mapping ``va`` in pid's space."""
    aspace = userland.address_space(pid)
    if paging == "pae":
        return aspace.pde(va >> 30, va >> 21 & 0x1FF).frame + (va >> 12 & 0x1FF) * 8
    return aspace.pde(va >> 22).frame + (va >> 12 & 0x3FF) * 4


def entry_text(raw, paging):
    return f"{raw:#018x}" if paging == "pae" else f"{raw:#010x}"


def frame_table_entry(kernel, frame):
    """Physical address of the frame's struct frame_info."""
    return kernel.u32("frame_table") - kernel.kernel_base + frame // PAGE * 4


EVENTS = ("a detaches", "b detaches", "a exits")


@pytest.mark.parametrize("order", list(itertools.permutations(EVENTS)),
                         ids=lambda order: ", ".join(order))
def test_shared_frames_hold_exactly_their_references_in_every_order(
        machine, kernel, userland, order):
    """a creates a two-page segment, a and b attach it; then a detaches, b
    detaches and a's shared memory goes as at exit (shm_release_all: its
    attachments and its creator's reference), in each order.  After every
    step each frame's refs is 1 for the live segment plus its mappings,
    FRAME_PINNED while the segment lives; at the end the frames are free in
    the PMM and 0 in the table.  Then both programs really exit."""
    machine.call("heap_trim")
    free_before = kernel.pmm_stats()["free_frames"]
    a, b = userland.spawn("hello"), userland.spawn("hello")
    pa, pb = process_address(kernel, a), process_address(kernel, b)
    seg = machine.call("shm_create", pa, 2)
    assert seg == 1
    frames = kernel.shm_segments()[0]["frames"]
    assert refs_and_flags(kernel, frames) == [(1, FRAME_PINNED)] * 2, "the segment's reference"
    assert machine.call("shm_attach", pa, seg) & 0xFFFFFFFF == SHM_VA
    assert machine.call("shm_attach", pb, seg) & 0xFFFFFFFF == SHM_VA
    assert refs_and_flags(kernel, frames) == [(3, FRAME_PINNED)] * 2
    owners = frame_owners(kernel, frames[1])
    assert sorted((p.who, p.va, p.owned) for p in owners.ptes if p.va < 0xC0000000) == [
        (f"pid {a} (hello)", SHM_VA + PAGE, True), (f"pid {b} (hello)", SHM_VA + PAGE, True)]
    assert owners.kernel == ("segment 1",) and owners.consistent and owners.used

    attached, creator = {"a", "b"}, True
    for event in order:
        who = event[0]
        if event.endswith("detaches"):
            want = 0 if who in attached else -22  # -EINVAL: a's exit already detached it
            assert machine.call_value("shm_detach", pa if who == "a" else pb, SHM_VA) == want
            attached.discard(who)
        else:
            machine.call("shm_release_all", pa)
            attached.discard("a")
            creator = False
        alive = creator or bool(attached)
        expected = (int(alive) + len(attached), FRAME_PINNED if alive else 0)
        assert refs_and_flags(kernel, frames) == [expected] * 2, f"after {event}"
        assert used(kernel, frames) == [alive] * 2, f"after {event}"
        assert [s["id"] for s in kernel.shm_segments()] == ([1] if alive else [])
        assert violations(kernel) == [], f"after {event}"

    results = userland.run()
    assert sorted((r.pid, r.status) for r in results.values()) == [(a, 0), (b, 0)]
    machine.call("heap_trim")
    assert kernel.pmm_stats()["free_frames"] == free_before, "every frame came back"


def test_exit_drops_the_references_of_attachments_and_creator(machine, kernel, userland):
    """Both programs exit holding their attachments: the exits alone bring
    every shared frame to 0 references and back to the PMM, and the audit's
    numbers (frame_audit) drop by exactly what the two processes held."""
    a, b = userland.spawn("hello"), userland.spawn("hello")
    pa = process_address(kernel, a)
    seg = machine.call("shm_create", pa, 3)
    machine.call("shm_attach", pa, seg)
    machine.call("shm_attach", process_address(kernel, b), seg)
    frames = kernel.shm_segments()[0]["frames"]
    # each process's own frames: its user pages (pages counts the 3 shared
    # too) and its kernel stack (PAGE_OWNED in the kernel half)
    private = sum(p["pages"] - 3 + (p["kstack_top"] - p["kstack_base"]) // PAGE
                  for p in kernel.process_table())
    assert refs_and_flags(kernel, frames) == [(3, FRAME_PINNED)] * 3
    before = frame_audit(kernel)
    userland.run()
    after = frame_audit(kernel)
    assert refs_and_flags(kernel, frames) == [(0, 0)] * 3
    # 3 shared frames of 3 references each and every private frame of both
    # programs went; the kernel's own (its heap) stayed
    assert before.problems == after.problems == ()
    assert before.shared_frames - after.shared_frames == 3
    assert before.kernel_references - after.kernel_references == 3
    assert before.frames - after.frames == 3 + private
    assert before.references - after.references == 9 + private
    assert before.owned_ptes - after.owned_ptes == 6 + private
    assert after.references == after.owned_ptes + after.kernel_references
    assert used(kernel, frames) == [False] * 3
    assert kernel.shm_segments() == []


@pytest.fixture
def shared(machine, kernel, userland):
    """Two hellos attached to one one-page segment: (pids, the frame)."""
    a, b = userland.spawn("hello"), userland.spawn("hello")
    pa = process_address(kernel, a)
    seg = machine.call("shm_create", pa, 1)
    machine.call("shm_attach", pa, seg)
    machine.call("shm_attach", process_address(kernel, b), seg)
    assert violations(kernel) == []
    return (a, b), kernel.shm_segments()[0]["frames"][0]


def test_the_audit_catches_a_wrong_refcount(machine, kernel, userland, shared, paging):
    (a, b), frame = shared
    entry = frame_table_entry(kernel, frame)
    good = machine.read_phys(entry, 4)
    assert good[:2] == (3).to_bytes(2, "little")
    machine.write_phys(entry, (2).to_bytes(2, "little") + good[2:])
    pte = userland.address_space(a).translate(SHM_VA).pte.raw
    assert violations(kernel) == [
        f"frame {frame:#x}: refs=2 in the frame table, expected 3 (2 PAGE_OWNED PTEs: pid {a} "
        f"(hello) va 0xa0000000 PTE {entry_text(pte, paging)}, pid {b} (hello) va 0xa0000000 "
        f"PTE {entry_text(pte, paging)}; 1 kernel reference: segment 1)"]
    assert not frame_owners(kernel, frame).consistent
    machine.write_phys(entry, good)
    assert violations(kernel) == []


def test_the_audit_catches_a_writable_cow_pte(machine, kernel, userland, shared, paging):
    """The stack page made copy-on-write the legal way (vmm_protect: read-only,
    PAGE_COW, FRAME_COW on its frame) passes; W poked into its PTE does not,
    and neither does the COW PTE on a frame whose FRAME_COW was cleared."""
    (a, _), _ = shared
    p = userland.process(a)
    directory = p.cr3 + kernel.kernel_base
    frame = userland.address_space(a).translate(STACK_PAGE).pa
    flags_at = frame_table_entry(kernel, frame) + 2
    assert machine.call_value("vmm_protect", directory, STACK_PAGE,
                              PRESENT | USER | OWNED | COW) == 0
    machine.write_phys(flags_at, bytes([FRAME_COW]))
    assert violations(kernel) == []

    at = pte_address(userland, a, STACK_PAGE, paging)
    width = 8 if paging == "pae" else 4
    raw = int.from_bytes(machine.read_phys(at, width), "little")
    assert raw & (COW | OWNED | WRITE) == COW | OWNED
    machine.write_phys(at, (raw | WRITE).to_bytes(width, "little"))
    assert violations(kernel) == [
        f"pid {a} (hello) va 0xbffff000 PTE {entry_text(raw | WRITE, paging)}: copy-on-write "
        f"and writable (a write would reach the shared frame {frame:#x})"]

    machine.write_phys(at, raw.to_bytes(width, "little"))
    machine.write_phys(flags_at, bytes([0]))
    assert violations(kernel) == [
        f"frame {frame:#x}: mapped copy-on-write by pid {a} (hello) va 0xbffff000 PTE "
        f"{entry_text(raw, paging)}, but FRAME_COW is not set"]
    machine.write_phys(at, (raw & ~COW | WRITE).to_bytes(width, "little"))  # private again
    assert violations(kernel) == []


def test_the_audit_catches_a_pte_naming_a_free_frame(machine, kernel, userland, shared, paging):
    """The stack PTE moved to a frame the PMM has free: the PMM's bit, the
    free frame's count (0, one PTE) and the old frame's (1, no PTE)."""
    (a, _), _ = shared
    at = pte_address(userland, a, STACK_PAGE, paging)
    width = 8 if paging == "pae" else 4
    raw = int.from_bytes(machine.read_phys(at, width), "little")
    old = userland.address_space(a).translate(STACK_PAGE).pa
    bitmap, _ = kernel.pmm_bitmaps()
    free = max(f for f in range(bitmap.count) if not bitmap[f]) * PAGE
    moved = raw & ~0xFFFFF000 | free
    machine.write_phys(at, moved.to_bytes(width, "little"))
    assert violations(kernel) == [
        f"pid {a} (hello) va 0xbffff000 PTE {entry_text(moved, paging)}: frame {free:#x} is "
        "free in the PMM's bitmap",
        f"frame {old:#x}: refs=1 in the frame table, expected 0 (0 PAGE_OWNED PTEs; 0 kernel "
        "references)",
        f"frame {free:#x}: refs=0 in the frame table, expected 1 (1 PAGE_OWNED PTE: pid {a} "
        f"(hello) va 0xbffff000 PTE {entry_text(moved, paging)}; 0 kernel references)"]
    machine.write_phys(at, raw.to_bytes(width, "little"))
    assert violations(kernel) == []
