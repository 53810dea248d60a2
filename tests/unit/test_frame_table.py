"""The frame table's decoder and the reference-count audit, without QEMU:
harness/decode/frames.py on bytes written here, then the audit inside the
invariant checker on test_invariants.py's synthetic machines (legacy and
PAE) with a frame table kept as the kernel keeps it; each rule broken once,
reported once, naming the frame, the counts and the PTEs."""

import struct
from collections import Counter
from dataclasses import replace

import pytest

from harness.decode import frames
from harness.decode.frames import (
    FRAME_COW,
    FRAME_PINNED,
    FrameInfo,
    FrameTable,
    PteRef,
    audit,
    flag_text,
    format_page_runs,
    page_runs,
)
from harness.decode.pae import PaeEntry
from harness.decode.paging import COW, OWNED, PRESENT, PROTNONE, USER, WRITE, Entry, Mapping
from harness.targets.mmverify.invariants import Segment, check
from tests.unit.test_invariants import FRAMES, SHM_VA, Attachment, PaeWorld, World


def table_bytes(entries: dict[int, tuple[int, int, int]], count: int = 2048) -> bytes:
    data = bytearray(count * 4)
    for pfn, (refs, flags, node) in entries.items():
        struct.pack_into("<HBB", data, pfn * 4, refs, flags, node)
    return bytes(data)


# -- decoding ----------------------------------------------------------------------------

def test_an_entry_is_refs_flags_node_little_endian():
    t = FrameTable(bytes([0, 0, 0, 0, 0x02, 0x01, 0x03, 0x01]))
    assert t.count == 2
    assert t[1] == FrameInfo(refs=0x102, flags=FRAME_COW | FRAME_PINNED, node=1)
    assert str(t[1]) == "refs=258 flags=cow,pinned node=1"
    assert t[0] == FrameInfo(0, 0, 0)


def test_flag_names():
    assert flag_text(0) == "-"
    assert flag_text(frames.FRAME_PINNED) == "pinned"
    assert flag_text(frames.FRAME_BALLOON) == "balloon"
    assert flag_text(frames.FRAME_PCP) == "pcp"
    assert flag_text(0x80) == "0x80"  # no flag has this bit (mm/frame.h)
    assert flag_text(0x19) == "cow,pagecache,swapcache"
    assert flag_text(0xC1) == "cow,pcp,0x80"


def test_outside_the_table_and_a_torn_table_are_errors():
    with pytest.raises(IndexError, match="outside the table's 2 frames"):
        FrameTable(bytes(8))[2]
    with pytest.raises(ValueError, match="4 bytes a frame"):
        FrameTable(bytes(6))


def test_held_lists_frames_with_references_or_flags_only():
    """Entries in different 1024-frame chunks, one with a flag but no
    references, and a node alone (no references, no flags: not held)."""
    t = FrameTable(table_bytes({3: (1, 0, 0), 1500: (0, FRAME_COW, 0), 2047: (7, 0, 0),
                                40: (0, 0, 2)}))
    assert list(t.held()) == [(3, FrameInfo(1, 0, 0)), (1500, FrameInfo(0, FRAME_COW, 0)),
                              (2047, FrameInfo(7, 0, 0))]


def test_the_walkers_know_owned_and_cow():
    assert Entry(0x1000 | PRESENT | OWNED | COW, 1).cow
    assert Entry(0x1000 | PRESENT | OWNED, 1).owned and not Entry(0x1000 | PRESENT, 1).owned
    assert not Entry(0x1000 | PRESENT | COW, 2).cow, "a PDE pointing at a table maps no page"
    assert PaeEntry(0x1000 | PRESENT | COW | 1 << 63, 1, nxe=True).cow
    m = Mapping(0x1000, 0x5000, 4096, 0x2007, 0x5000 | PRESENT | USER | COW)
    assert m.cow and not m.owned and not m.write


# -- the audit on its own ------------------------------------------------------------------

A = PteRef("pid 1 (a)", 0x1000, 0x5000 | PRESENT | USER | OWNED)
B = PteRef("pid 2 (b)", 0x3000, 0x5000 | PRESENT | USER | OWNED)
KERNEL_VIEW = PteRef("the kernel", 0xC0005000, 0x5000 | PRESENT | WRITE)  # direct map


def run_audit(entries, ptes, kernel=None, used=lambda n: True):
    return audit(FrameTable(table_bytes(entries)), ptes, kernel or {}, used)


def test_refs_equal_to_owned_ptes_plus_kernel_references_pass():
    assert run_audit({5: (3, FRAME_PINNED, 0)}, {5: [A, B, KERNEL_VIEW]},
                     {5: ["segment 1"]}) == []


def test_refs_too_high_names_the_frame_the_counts_and_the_ptes():
    assert run_audit({5: (3, 0, 0)}, {5: [A, B]}) == [
        "frame 0x5000: refs=3 in the frame table, expected 2 (2 PAGE_OWNED PTEs: pid 1 (a) "
        "va 0x00001000 PTE 0x00005205, pid 2 (b) va 0x00003000 PTE 0x00005205; 0 kernel "
        "references)"]


def test_refs_too_low():
    assert run_audit({5: (1, 0, 0)}, {5: [A]}, {5: ["segment 4"]}) == [
        "frame 0x5000: refs=1 in the frame table, expected 2 (1 PAGE_OWNED PTE: pid 1 (a) "
        "va 0x00001000 PTE 0x00005205; 1 kernel reference: segment 4)"]


def test_an_owned_pte_on_a_frame_without_references():
    assert run_audit({}, {5: [A]}) == [
        "frame 0x5000: refs=0 in the frame table, expected 1 (1 PAGE_OWNED PTE: pid 1 (a) "
        "va 0x00001000 PTE 0x00005205; 0 kernel references)"]


def test_a_referenced_frame_free_in_the_pmm():
    assert run_audit({5: (1, 0, 0)}, {5: [A]}, used=lambda n: n != 5) == [
        "frame 0x5000: refs=1, but free in the PMM's bitmap"]


def test_a_cow_pte_on_a_frame_without_frame_cow():
    cow = replace(A, raw=A.raw | COW)
    assert run_audit({5: (1, 0, 0)}, {5: [cow]}) == [
        f"frame 0x5000: mapped copy-on-write by {cow}, but FRAME_COW is not set"]
    assert run_audit({5: (1, FRAME_COW, 0)}, {5: [cow]}) == []
    assert run_audit({5: (1, FRAME_COW, 0)}, {5: [A]}) == [], \
        "FRAME_COW may outlive the last COW PTE (after a copy)"


def test_a_writable_cow_pte_is_named():
    bad = replace(A, raw=A.raw | COW | WRITE)
    assert run_audit({5: (1, FRAME_COW, 0)}, {5: [bad]}) == [
        "pid 1 (a) va 0x00001000 PTE 0x00005a07: copy-on-write and writable (a write "
        "would reach the shared frame 0x5000)"]


def test_a_pte_beyond_the_table():
    assert run_audit({}, {4096: [replace(A, raw=0x1000000 | PRESENT | OWNED)]}) == [
        "frame 0x1000000: beyond the frame table, named by pid 1 (a) va 0x00001000 PTE "
        "0x01000201"]


def test_many_ptes_are_cut_short_in_the_message():
    many = [replace(A, va=0x1000 * k) for k in range(1, 10)]
    (line,) = run_audit({5: (1, 0, 0)}, {5: many})
    assert line.endswith("va 0x00006000 PTE 0x00005205 and 3 more; 0 kernel references)")


def test_page_runs_split_on_refs_cow_and_gaps():
    t = FrameTable(table_bytes({1: (1, 0, 0), 2: (1, 0, 0), 3: (2, 0, 0), 4: (2, 0, 0)}))
    rw, cow = PRESENT | USER | WRITE | OWNED, PRESENT | USER | OWNED | COW
    runs = page_runs([(0x1000, 0x1000, True, True, rw), (0x2000, 0x2000, True, True, rw),
                      (0x3000, 0x3000, True, False, cow), (0x4000, 0x4000, True, False, cow),
                      (0x6000, 0x4000, True, False, cow),  # a gap before it
                      (0x7000, 0x900000, True, False, PRESENT | USER)], t)  # beyond the table
    assert [(r.start, r.end, r.cow, r.refs) for r in runs] == [
        (0x1000, 0x3000, False, 1), (0x3000, 0x5000, True, 2), (0x6000, 0x7000, True, 2),
        (0x7000, 0x8000, False, None)]
    assert format_page_runs(runs).splitlines()[1:3] == [
        "0x00001000  0x00003000       2  0x0000001000  urw     yes       1",
        "0x00003000  0x00005000       2  0x0000003000  ur-     yes       2  cow"]
    assert format_page_runs(runs).splitlines()[-1].endswith("0x0000900000  ur-     no        ?")


def test_page_runs_split_where_frames_stop_being_consecutive():
    t = FrameTable(table_bytes({1: (1, 0, 0), 2: (1, 0, 0), 7: (1, 0, 0)}))
    rw = PRESENT | USER | WRITE | OWNED
    runs = page_runs([(0x1000, 0x1000, True, True, rw), (0x2000, 0x2000, True, True, rw),
                      (0x3000, 0x7000, True, True, rw)], t)
    assert [(r.start, r.end, r.frame) for r in runs] == [(0x1000, 0x3000, 0x1000),
                                                         (0x3000, 0x4000, 0x7000)]


# -- the audit inside the invariant checker ------------------------------------------------

class FrameTableKept:
    """A synthetic machine that keeps a frame table as the kernel does: every
    mapping made with PAGE_OWNED takes a reference, each segment holds one."""

    def __init__(self):
        self.refs: Counter = Counter()
        self.flags: dict[int, int] = {}
        super().__init__()

    def map(self, cr3, va, pte):
        super().map(cr3, va, pte)
        if pte & OWNED:
            self.refs[(pte & 0xFFFFFFFFF000) >> 12] += 1

    def segment(self, seg_id, pages, creator):
        seg = Segment(seg_id, 1, creator, tuple(self.alloc() for _ in range(pages)))
        for f in seg.frames:
            self.refs[f >> 12] += 1
            self.flags[f >> 12] = FRAME_PINNED
        self.segments.append(seg)
        return seg

    def state(self, *args):
        entries = {pfn: (n, self.flags.get(pfn, 0), 0) for pfn, n in self.refs.items()}
        entries |= {pfn: (self.refs[pfn], f, 0) for pfn, f in self.flags.items()}
        return replace(super().state(*args), frames=FrameTable(table_bytes(entries, FRAMES)))


class RefWorld(FrameTableKept, World):
    pass


class RefPaeWorld(FrameTableKept, PaeWorld):
    pass


def shared_world(w):
    """Two processes on one segment (refs: the segment, two attachments),
    and the kernel heap mapped PAGE_OWNED, as heap.c maps it."""
    seg = w.segment(1, 1, 1)
    w.segments[0] = replace(seg, refs=3)
    w.map(w.kernel_cr3, 0xF0001000, w.alloc() | PRESENT | WRITE | OWNED)
    w.process(1, [Attachment(1, SHM_VA, 1)])
    w.process(2, [Attachment(1, SHM_VA + 0x5000, 1)])
    return w


@pytest.fixture
def world():
    return shared_world(RefWorld())


def test_a_consistent_world_with_a_frame_table(world):
    """The kernel heap's page is in both processes' directories (their
    kernel half is the kernel's), and counted once."""
    assert world.refs[world.segments[0].frames[0] >> 12] == 3
    assert world.check() == []


def test_a_poked_refcount(world):
    frame = world.segments[0].frames[0]
    world.refs[frame >> 12] = 2
    a = world.u32(world.pte_address(world.spaces[0].cr3, SHM_VA))
    assert world.check() == [
        f"frame {frame:#x}: refs=2 in the frame table, expected 3 (2 PAGE_OWNED PTEs: "
        f"pid 1 (prog1) va 0xa0000000 PTE {a:#010x}, pid 2 (prog2) va 0xa0005000 PTE "
        f"{a:#010x}; 1 kernel reference: segment 1)"]


def test_a_kernel_heap_page_that_lost_its_reference(world):
    at = world.pte_address(world.kernel_cr3, 0xF0001000)
    frame = world.u32(at) & ~0xFFF
    world.refs[frame >> 12] = 0
    assert world.check() == [
        f"frame {frame:#x}: refs=0 in the frame table, expected 1 (1 PAGE_OWNED PTE: the "
        f"kernel va 0xf0001000 PTE {world.u32(at):#010x}; 0 kernel references)"]


def test_a_user_page_of_the_kernel_directory_counts(world):
    """Tests map pages below the kernel base in the kernel's directory (pid 0)."""
    frame = world.alloc()
    world.map(world.kernel_cr3, 0x40000000, frame | PRESENT | WRITE | OWNED)
    assert world.check() == []
    world.refs[frame >> 12] += 1
    assert world.check()[0].startswith(f"frame {frame:#x}: refs=2 in the frame table, "
                                       "expected 1 (1 PAGE_OWNED PTE: pid 0 va 0x40000000")


def test_a_writable_cow_pte_in_a_process(world):
    p = world.spaces[0]
    at = world.pte_address(p.cr3, 0x2000)
    world.set_u32(at, world.u32(at) | COW)
    world.flags[world.u32(at) >> 12] = FRAME_COW
    assert world.check() == [
        f"pid 1 (prog1) va 0x00002000 PTE {world.u32(at):#010x}: copy-on-write and writable "
        f"(a write would reach the shared frame {world.u32(at) & ~0xFFF:#x})"]
    world.set_u32(at, world.u32(at) & ~WRITE)
    assert world.check() == [], "read-only copy-on-write, FRAME_COW set: as fork leaves it"


def test_a_cow_pte_on_a_frame_without_frame_cow_in_the_checker(world):
    at = world.pte_address(world.spaces[1].cr3, 0x2000)
    world.set_u32(at, world.u32(at) & ~WRITE | COW)
    frame = world.u32(at) & ~0xFFF
    assert world.check() == [f"frame {frame:#x}: mapped copy-on-write by pid 2 (prog2) va "
                             f"0x00002000 PTE {world.u32(at):#010x}, but FRAME_COW is not set"]
    world.flags[frame >> 12] = FRAME_COW
    assert world.check() == []


def test_a_pte_moved_to_a_free_frame(world):
    """Three findings, one cause: the PMM's bit, the free frame's count, the old frame's."""
    p = world.spaces[0]
    at = world.pte_address(p.cr3, 0xBFFFF000)
    old = world.u32(at) & ~0xFFF
    free = 0x900000
    world.set_u32(at, free | PRESENT | USER | WRITE | OWNED)
    assert world.check() == [
        f"pid 1 (prog1) va 0xbffff000 PTE {free | 0x207:#010x}: frame {free:#x} is free in "
        "the PMM's bitmap",
        f"frame {old:#x}: refs=1 in the frame table, expected 0 (0 PAGE_OWNED PTEs; 0 kernel "
        "references)",
        f"frame {free:#x}: refs=0 in the frame table, expected 1 (1 PAGE_OWNED PTE: pid 1 "
        f"(prog1) va 0xbffff000 PTE {free | 0x207:#010x}; 0 kernel references)"]


def test_a_referenced_frame_the_pmm_has_freed(world):
    frame = world.u32(world.pte_address(world.spaces[1].cr3, 0x1000)) & ~0xFFF
    world.used.discard(frame >> 12)
    problems = world.check()
    assert f"frame {frame:#x}: refs=1, but free in the PMM's bitmap" in problems
    assert len(problems) == 2  # and the PTE to a free frame


def test_a_zombie_still_holds_its_references(world):
    world.spaces[1] = replace(world.spaces[1], zombie=True)
    assert world.check() == []


def test_a_directory_the_checker_does_not_see_leaves_references_unexplained(world):
    """A process missing from the table (a leaked address space): its frames'
    references are held by nothing the kernel can name."""
    world.spaces.pop()
    problems = world.check()
    assert sum("refs=1 in the frame table, expected 0 (0 PAGE_OWNED PTEs; 0 kernel "
               "references)" in p for p in problems) == 3, problems
    assert any(p.startswith(f"frame {world.segments[0].frames[0]:#x}: refs=3 in the frame "
                            "table, expected 2") for p in problems), problems
    assert problems[0] == ("segment 1: refs=3, but 1 attachments and the creator hold it "
                           "(expected 2)")
    assert len(problems) == 5


def test_pae_a_consistent_world_with_a_frame_table():
    w = RefPaeWorld()
    w.process(1)
    w.process(2)
    assert w.check() == []
    at = w.pte_address(w.spaces[0].cr3, 0x2000)
    w.set_u64(at, w.u64(at) | COW)
    w.flags[(w.u64(at) & 0xFFFFF000) >> 12] = FRAME_COW
    assert w.check() == [
        f"pid 1 (prog1) va 0x00002000 PTE {w.u64(at):#018x}: copy-on-write and writable "
        f"(a write would reach the shared frame {w.u64(at) & 0xFFFFF000:#x})"]


MMAP_VA = 0x60000000


def share_after_fork(world, flags):
    """pid 2's data page made to map pid 1's frame as fork leaves a private
    writable page (``flags``: the bits both PTEs get)."""
    a, b = (world.pte_address(p.cr3, 0x2000) for p in world.spaces)
    frame, dropped = world.u32(a) & ~0xFFF, world.u32(b) & ~0xFFF
    world.set_u32(a, frame | flags)
    world.set_u32(b, frame | flags)
    world.refs[frame >> 12] += 1
    del world.refs[dropped >> 12]
    world.used.discard(dropped >> 12)
    return frame


def test_a_private_frame_shared_copy_on_write_by_two_processes(world):
    frame = share_after_fork(world, PRESENT | USER | OWNED | COW)
    world.flags[frame >> 12] = FRAME_COW
    assert world.check() == []


def test_a_private_frame_shared_writable_by_two_processes(world):
    frame = share_after_fork(world, PRESENT | USER | OWNED | WRITE)
    assert world.check() == [f"frame {frame:#x} is mapped by pid 1 (prog1) va 0x00002000, "
                             "pid 2 (prog2) va 0x00002000, and not as shared memory"]


def test_a_shared_mmap_region_may_share_writable_frames(world):
    frame = world.alloc()
    for i, p in enumerate(world.spaces):
        world.map(p.cr3, MMAP_VA, frame | PRESENT | USER | WRITE | OWNED)
        world.spaces[i] = replace(p, pages=p.pages + 1,
                                  mmap=((MMAP_VA, MMAP_VA + 0x4000, 3, 0x22),))
    assert world.check() == [f"frame {frame:#x} is mapped by pid 1 (prog1) va 0x60000000, "
                             "pid 2 (prog2) va 0x60000000, and not as shared memory"], \
        "MAP_PRIVATE | MAP_ANONYMOUS: private"
    world.spaces = [replace(p, mmap=((MMAP_VA, MMAP_VA + 0x4000, 3, 0x21),))
                    for p in world.spaces]
    assert world.check() == [], "MAP_SHARED | MAP_ANONYMOUS"


def test_without_a_frame_table_nothing_is_audited(world):
    world.refs.clear()
    assert check(world, replace(world.state(), frames=None)) == []


def test_a_prot_none_entry_counts_like_a_present_one():
    """A kept PROT_NONE page (not present, PAGE_PROTNONE) holds its reference:
    the audit counts it and names it as such."""
    kept = PteRef("pid 2 (b)", 0x3000, 0x5000 | PROTNONE | USER | OWNED | COW)
    assert kept.protnone and not A.protnone
    assert run_audit({5: (2, FRAME_COW, 0)}, {5: [A, kept]}) == []
    assert run_audit({5: (1, FRAME_COW, 0)}, {5: [A, kept]}) == [
        "frame 0x5000: refs=1 in the frame table, expected 2 (2 PAGE_OWNED PTEs: pid 1 (a) "
        "va 0x00001000 PTE 0x00005205, pid 2 (b) va 0x00003000 PROT_NONE entry 0x00005b04; "
        "0 kernel references)"]


def test_page_runs_split_at_prot_none_pages():
    t = FrameTable(table_bytes({5: (1, 0, 0), 6: (1, 0, 0), 7: (1, 0, 0)}))
    runs = page_runs([(0x1000, 0x5000, True, True, 0x207),
                      (0x2000, 0x6000, True, False, 0x304),
                      (0x3000, 0x7000, True, False, 0x304)], t)
    assert [(r.start, r.end, r.protnone) for r in runs] == [(0x1000, 0x2000, False),
                                                            (0x2000, 0x4000, True)]
    assert format_page_runs(runs).splitlines()[0].endswith("cow  protnone")
    assert format_page_runs(runs).splitlines()[2].endswith("   1       protnone")
