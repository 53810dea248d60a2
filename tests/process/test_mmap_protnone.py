"""mprotect(PROT_NONE) keeps a private page's frame (mm/mmap.h, PAGE_PROTNONE
in mm/vmm.h): the entry is not present, so every access faults (reason
guard; a system call gets EFAULT), but the frame, its reference and its
contents stay, and come back with the rights.  munmap, exit and fork handle
such entries like present ones.  Judged from the page tables, the frame
table, the PMM and guest RAM (firmware/user/protnone.c sets the scene)."""

import pytest

from harness import CallStopped
from harness.decode.frames import FRAME_COW
from harness.decode.paging import COW, OWNED, PRESENT, PROTNONE, USER, WRITE
from harness.targets.mmverify.invariants import violations

pytestmark = pytest.mark.machine(modules=["user/*"], cmdline="aslr=off")

PAGE = 4096
A = 0x40000000  # protnone.c's first mmap (the mmap area's base with aslr=off)
EFAULT = 14
FILL, LAST = bytes.fromhex("5a5a5a5a"), bytes.fromhex("00eeffc0")  # protnone.c's contents


def frame_info(machine, pa):
    """(refs, flags) of frame pa in the kernel's frame table."""
    table = machine.read_u32(machine.symbol("frame_table"))
    raw = machine.read(table + (pa // PAGE) * 4, 4)
    return int.from_bytes(raw[:2], "little"), raw[2]


def free_frames(machine, kernel):
    machine.call("heap_trim")
    return kernel.pmm_stats()["free_frames"]


def kept(userland, pid):
    """pid's PROT_NONE entries in protnone.c's two pages: va -> (frame, raw)."""
    aspace = userland.address_space(pid)
    return {m.va: (m.pa, m.pte) for m in aspace.protnone_pages(A, A + 2 * PAGE)}


def present(userland, pid):
    """pid's present pages there: va -> (frame, raw PTE)."""
    aspace = userland.address_space(pid)
    return {m.va: (m.pa, m.pte) for m in aspace.mappings(A, A + 2 * PAGE)}


def start(machine, userland, mode):
    """protnone MODE stopped at checkpoint(1): the pages just made PROT_NONE."""
    pid = userland.spawn("protnone", mode)
    machine.break_at(userland.symbol("protnone", "checkpoint"))
    with pytest.raises(CallStopped):
        machine.call("sched_run")
    return pid


def result(userland, pid):
    raw = userland.read(pid, userland.symbol("protnone", "result"), 4)
    return int.from_bytes(raw, "little", signed=True)


def finish(machine, userland):
    machine.delete_breakpoints()
    machine.cont()
    return userland.history()


def test_prot_none_keeps_the_frame_and_rights_bring_it_back(machine, userland, kernel):
    before = free_frames(machine, kernel)
    pid = start(machine, userland, "back")
    resident = userland.process(pid).pages
    assert present(userland, pid) == {}, "nothing the CPU can reach"
    ((va, (frame, raw)),) = kept(userland, pid).items()
    assert va == A, "the touched page only; the untouched one has no frame"
    assert raw & (PRESENT | PROTNONE | USER | OWNED | WRITE | COW) == PROTNONE | USER | OWNED
    assert frame_info(machine, frame) == (1, 0), "its reference stays"
    assert machine.read_phys(frame, 4) == FILL and machine.read_phys(frame + PAGE - 4, 4) == LAST
    free = kernel.pmm_stats()["free_frames"]

    machine.cont()  # checkpoint(2): mprotect back to read/write
    assert result(userland, pid) == 0
    assert kept(userland, pid) == {}
    ((va, (back, raw)),) = present(userland, pid).items()
    assert (va, back) == (A, frame), "the same frame, present again"
    assert raw & (WRITE | USER | OWNED | COW) == WRITE | USER | OWNED
    assert userland.read(pid, A, PAGE) == FILL * (PAGE // 4 - 1) + LAST, "contents intact"
    assert frame_info(machine, frame) == (1, 0)
    assert kernel.pmm_stats()["free_frames"] == free
    assert userland.process(pid).pages == resident, "resident all along"

    machine.cont()  # checkpoint(3): munmap
    assert result(userland, pid) == 0
    assert present(userland, pid) == {} and kept(userland, pid) == {}
    assert frame_info(machine, frame) == (0, 0)
    assert kernel.pmm_stats()["free_frames"] == free + 1, "exactly its frame came back"
    assert userland.process(pid).pages == resident - 1

    ended = finish(machine, userland)[pid]  # exits holding a PROT_NONE page
    assert (ended.killed, ended.status) == (False, 0)
    assert free_frames(machine, kernel) == before, "exit freed the PROT_NONE page too"


@pytest.mark.parametrize("mode", ["read", "write", "fetch"])
def test_every_access_to_a_prot_none_page_kills_with_reason_guard(machine, userland, kernel,
                                                                  mode):
    before = free_frames(machine, kernel)
    pid = userland.spawn("protnone", mode)
    ended = userland.run()[pid]
    assert (ended.killed, ended.reason, ended.addr) == (True, "guard", A)
    faults = [(f.kind, f.reason) for f in kernel.fault_log()
              if f.pid == pid and f.fault.addr >> 12 == A >> 12]
    assert faults == [("not-present", "demand-page"), ("not-present", "guard")], \
        "the first write mapped it; the access after PROT_NONE found it not present"
    assert free_frames(machine, kernel) == before, "the kill freed the PROT_NONE page"


def test_a_system_call_on_it_gets_efault_and_munmap_frees_it(machine, userland, kernel):
    pid = start(machine, userland, "syscall")
    machine.cont()  # checkpoint(2): write(1, page, 16) returned
    assert result(userland, pid) == -EFAULT
    assert userland.output(pid) == b"", "not a byte of the page went out"
    (frame, _), = kept(userland, pid).values()
    assert frame_info(machine, frame) == (1, 0), "the page is still kept"
    free, resident = kernel.pmm_stats()["free_frames"], userland.process(pid).pages
    machine.cont()  # checkpoint(3): munmap while PROT_NONE
    assert result(userland, pid) == 0
    assert kept(userland, pid) == {} and frame_info(machine, frame) == (0, 0)
    assert kernel.pmm_stats()["free_frames"] == free + 1, "exactly its frame came back"
    assert userland.process(pid).pages == resident - 1
    ended = finish(machine, userland)[pid]
    assert (ended.killed, ended.status) == (False, 0)


def test_fork_shares_a_prot_none_page_and_a_write_after_rights_return_copies(
        machine, userland, kernel):
    before = free_frames(machine, kernel)
    pid = start(machine, userland, "fork")
    (frame, _), = kept(userland, pid).values()
    machine.cont()  # checkpoint(2) in the child, right after the fork
    child = next(p.pid for p in userland.processes() if p.pid != pid)
    for who in (pid, child):
        assert present(userland, who) == {}, f"pid {who}: nothing present"
        ((va, (pa, raw)),) = kept(userland, who).items()
        assert (va, pa) == (A, frame), f"pid {who}: the one frame"
        assert raw & (PRESENT | PROTNONE | OWNED | COW | WRITE) == PROTNONE | OWNED | COW
    assert frame_info(machine, frame) == (2, FRAME_COW), "one reference each, COW-marked"

    machine.cont()  # checkpoint(3) in the child: mprotect back, then a write
    ((va, (copy, raw)),) = present(userland, child).items()
    assert va == A and copy != frame, "the write copied"
    assert raw & (WRITE | COW) == WRITE
    assert machine.read_phys(copy, 4) == bytes.fromhex("0c0c0c0c")
    assert machine.read_phys(copy + PAGE - 4, 4) == LAST, "copied from the kept frame"
    assert machine.read_phys(frame, 4) == FILL, "the parent's frame untouched"
    assert frame_info(machine, copy) == (1, 0)
    assert frame_info(machine, frame) == (1, FRAME_COW), "the parent still keeps it COW"
    assert list(kept(userland, pid)) == [A]

    machine.cont()  # checkpoint(4) in the parent: the child ended, mprotect back
    assert result(userland, pid) == 0
    ((va, (pa, raw)),) = present(userland, pid).items()
    assert (va, pa) == (A, frame), "the last holder takes its frame back, no copy"
    assert raw & (WRITE | COW) == WRITE
    assert frame_info(machine, frame) == (1, 0), "FRAME_COW cleared"
    assert userland.read(pid, A, 4) == FILL
    results = finish(machine, userland)
    assert {p: (r.killed, r.status) for p, r in results.items()} == \
        {pid: (False, 0), child: (False, 0)}
    assert free_frames(machine, kernel) == before


def pte_address(userland, pid, va, paging):
    aspace = userland.address_space(pid)
    if paging == "pae":
        return aspace.pde(va >> 30, va >> 21 & 0x1FF).frame + (va >> 12 & 0x1FF) * 8
    return aspace.pde(va >> 22).frame + (va >> 12 & 0x3FF) * 4


def test_the_audit_catches_a_prot_none_entry_outside_a_prot_none_region(
        machine, userland, kernel, paging):
    """At checkpoint(2) the region is read/write again; a PROT_NONE entry
    poked into it is reported (its reference still counted), and so is a
    kept entry whose frame lost its reference."""
    pid = start(machine, userland, "back")
    (frame, raw), = kept(userland, pid).values()
    refs_at = machine.read_u32(machine.symbol("frame_table")) - kernel.kernel_base \
        + frame // PAGE * 4
    machine.write_phys(refs_at, (0).to_bytes(2, "little"))
    width = 8 if paging == "pae" else 4
    text = f"{raw:#0{2 + 2 * width}x}"
    assert violations(kernel) == [
        f"frame {frame:#x}: refs=0 in the frame table, expected 1 (1 PAGE_OWNED PTE: pid {pid} "
        f"(protnone) va {A:#010x} PROT_NONE entry {text}; 0 kernel references)"]
    machine.write_phys(refs_at, (1).to_bytes(2, "little"))
    assert violations(kernel) == []

    machine.cont()  # checkpoint(2): present and writable again
    at = pte_address(userland, pid, A, paging)
    good = machine.read_phys(at, width)
    entry = int.from_bytes(good, "little")
    poked = entry & ~(PRESENT | WRITE) | PROTNONE
    machine.write_phys(at, poked.to_bytes(width, "little"))
    assert violations(kernel) == [
        f"pid {pid} (protnone) va {A:#010x} PROT_NONE entry {poked:#0{2 + 2 * width}x}: "
        "outside every PROT_NONE mmap region"]
    machine.write_phys(at, good)
    assert violations(kernel) == []
    finish(machine, userland)
