"""mm map, mm vtop and mm pt in a plain GDB attached to the booted firmware
with no symbol file, or with another program's symbols: what they print is
checked entry by entry against QEMU's own view (info mem, info tlb,
gva2gpa) and against the harness's walker reading guest RAM directly; the
commands that need the firmware say so; mm set kernel-base moves the split."""

import re

import pytest

from harness.decode import paging
from harness.decode.qemuview import parse_info_mem, parse_info_tlb
from harness.transport.physmem import GuestRam

from .test_mm_kernel import merged

pytestmark = pytest.mark.qemu

FIRMWARE_ONLY = ("mm pmm", "mm heap", "mm faults", "mm procs")


class RamReader:
    def __init__(self, ram: GuestRam) -> None:
        self.ram = ram

    def read_phys(self, addr: int, size: int) -> bytes:
        return self.ram.read(addr, size)


def machine_view(qemu, cfg) -> dict:
    """The machine as QEMU and the harness's walker see it, GDB gone: the
    guest stopped, info mem and info tlb, and paging.walk over guest RAM."""
    qemu.hmp("stop")
    regs = qemu.hmp("info registers")
    cr3 = int(re.search(r"CR3=([0-9a-f]+)", regs)[1], 16)
    cr4 = int(re.search(r"CR4=([0-9a-f]+)", regs)[1], 16)
    ram = GuestRam(qemu.run_dir / "ram", cfg.memory_mib << 20)
    try:
        aspace = paging.walk(RamReader(ram), cr3, pse=bool(cr4 & 0x10))
    finally:
        ram.close()
    return {"cr3": cr3, "aspace": aspace, "mem": parse_info_mem(qemu.hmp("info mem")),
            "tlb": parse_info_tlb(qemu.hmp("info tlb"))}


def human(n: int) -> str:
    """As the mm commands print sizes (common.human)."""
    for unit, shift in (("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.0f} {unit}" if n % (1 << shift) == 0 else \
                f"{n / (1 << shift):.1f} {unit}"
    return f"{n} B"


FLAGS = "PWUTCADSG"
BITS = (paging.PRESENT, paging.WRITE, paging.USER, paging.PWT, paging.PCD, paging.ACCESSED,
        paging.DIRTY, paging.PS, paging.GLOBAL)


def columns(raw: int) -> str:
    return "".join(c if raw & b else "-" for c, b in zip(FLAGS, BITS, strict=True))


PTE_ROW = re.compile(r"^  PTE +(\d+)  (0x[0-9a-f]{8})  (0x[0-9a-f]{8})  (0x[0-9a-f]{8})  "
                     r"([-A-Z]{9})$", re.MULTILINE)
PDE_ROW = re.compile(r"^PDE +(\d+)  (0x[0-9a-f]{8})  (0x[0-9a-f]{8})  (0x[0-9a-f]{8})  "
                     r"([-A-Z]{9})  (page table|4 MiB page)$", re.MULTILINE)


def pt_rows(out: str) -> tuple[list[tuple], list[tuple]]:
    pdes = [(int(m[1]), int(m[2], 16), int(m[3], 16), int(m[4], 16), m[5], m[6])
            for m in PDE_ROW.finditer(out)]
    ptes = [(int(m[1]), int(m[2], 16), int(m[3], 16), int(m[4], 16), m[5])
            for m in PTE_ROW.finditer(out)]
    return pdes, ptes


def check_pt_range(out: str, view: dict, start: int, end: int) -> None:
    """Every entry mm pt printed for [start, end), against the walker and info tlb."""
    aspace, tlb = view["aspace"], view["tlb"]
    pdes, ptes = pt_rows(out)
    want_pdes = [i for i in range(paging.pdx(start), paging.pdx(end - 1) + 1)
                 if aspace.pde(i).present]
    assert [p[0] for p in pdes] == want_pdes, out
    for index, va, raw, points_to, flags, _ in pdes:
        assert (va, raw, points_to, flags) == (index << 22, aspace.pde(index).raw,
                                               raw & paging.FRAME_MASK, columns(raw))
    walker = [(m.va, m.pte, m.pa) for m in aspace.mappings(start, end)]
    assert [(va, raw, pa) for _, va, raw, pa, _ in ptes] == walker, out
    assert all(index == paging.ptx(va) and flags == columns(raw)
               for index, va, raw, _, flags in ptes)
    in_tlb = {va: e for va, e in tlb.items() if start <= va < end}
    assert sorted(in_tlb) == [va for _, va, *_ in ptes], "info tlb: the same pages"
    for _, va, raw, pa, _ in ptes:
        e = in_tlb[va]
        assert (e.pa, e.user, e.write, e.global_, e.accessed, e.dirty) == (
            pa, bool(raw & paging.USER), bool(raw & paging.WRITE), bool(raw & paging.GLOBAL),
            bool(raw & paging.ACCESSED), bool(raw & paging.DIRTY)), (hex(va), e)
    pages = sum(min(end, (i + 1) << 22) - max(start, i << 22) for i in want_pdes) // 4096
    skipped = sum(int(n) for n in re.findall(r"^  \((\d+) not-present PTEs? skipped\)$", out,
                                              re.MULTILINE))
    assert skipped == pages - len(ptes)
    not_present_pdes = paging.pdx(end - 1) - paging.pdx(start) + 1 - len(want_pdes)
    assert out.rstrip().endswith(
        f"present: {len(pdes)} PDEs (0 4 MiB pages, {len(pdes)} page tables), {len(ptes)} "
        f"PTEs; not present, skipped: {not_present_pdes} PDEs, {skipped} PTEs"), out


def test_no_symbol_file_map_vtop_pt_match_qemu_and_the_walker(run_gdb):
    t = run_gdb(["mm map $cr3", "mm vtop 0xc0100000 $cr3", "mm vtop 0xc0100123",
                 "mm vtop 0x00400000 $cr3", "mm pt $cr3 0xc0100000-0xc0120000",
                 "mm pt 0xc3ff0000+0x20000", *FIRMWARE_ONLY, "mm map 1", "mm map 0",
                 "mm show", "mm set kernel-base 0xc4000000", "mm map", "mm set",
                 "mm set kernel-base default", "mm map $cr3", "mm map 0x7000000",
                 "mm pt 0x20000000"],
                symbols=None, after=machine_view)
    view = t.seen
    cr3, aspace = view["cr3"], view["aspace"]

    first, _, moved, _, back = t.after("mm map $cr3")[0], None, t["mm map"], None, \
        t.after("mm map $cr3")[1]
    assert first.splitlines()[0] == f"address space of cr3 {cr3:#010x} [current]", first
    rows = t.regions(first)
    qemu = [(r.start, r.end, ("u" if r.user else "-") + "r" + ("w" if r.write else "-"))
            for r in view["mem"]]
    assert merged(rows) == qemu, f"mm map:\n{first}\ninfo mem: {view['mem']}"
    assert [(r.start, r.end, r.perms(), r.global_) for r in
            aspace.regions(split_global=True)] == rows, "the walker over guest RAM"
    total = sum(r.end - r.start for r in view["mem"])
    assert f"{len(rows)} regions: 0 B below 0xc0000000, {human(total)} from it up; " \
           f"{aspace.page_tables()} page tables" in first, first
    top = sum(r.end - r.start for r in view["mem"] if r.start >= 0xC4000000)
    assert f"{len(rows)} regions: {human(total - top)} below 0xc4000000, {human(top)} " \
           "from it up" in moved, moved
    assert t.regions(moved) == rows and back == first

    pte = aspace.translate(0xC0100000).pte.raw
    pde = aspace.pde(768).raw
    assert t["mm vtop 0xc0100000 $cr3"].splitlines() == [
        f"in the address space of cr3 {cr3:#010x} [current]",
        "va 0xc0100000: PDX 768 PTX 256 offset 0x0",
        f"  PDE {pde:#010x} -> {pde & paging.FRAME_MASK:#010x} [{paging.flag_string(pde)}]",
        f"  PTE {pte:#010x} -> 0x00100000 [{paging.flag_string(pte)}]",
        "  -> 0x00100000", "  effective: supervisor, read-only"]
    assert view["tlb"][0xC0100000].pa == 0x100000 and not view["tlb"][0xC0100000].write
    assert "  -> 0x00100123" in t["mm vtop 0xc0100123"].splitlines()
    assert t["mm vtop 0x00400000 $cr3"].splitlines()[1:] == [
        "va 0x00400000: PDX 1 PTX 0 offset 0x0", "  PDE 0x00000000 -> 0x00000000 [-]",
        "  -> not mapped"]

    check_pt_range(t["mm pt $cr3 0xc0100000-0xc0120000"], view, 0xC0100000, 0xC0120000)
    two = t["mm pt 0xc3ff0000+0x20000"]
    assert [p[0] for p in pt_rows(two)[0]] == [783, 784], two
    check_pt_range(two, view, 0xC3FF0000, 0xC4010000)

    for command in FIRMWARE_ONLY:
        assert t[command].strip().startswith(
            f"{command}: needs the mmverify firmware's symbols"), t[command]
        assert "no symbol file is loaded" in t[command]
    for pid in ("1", "0"):
        assert f"mm map: {pid} ({int(pid):#x}) is not a CR3 value" in t[f"mm map {pid}"]
        assert "pids need the mmverify firmware's symbols" in t[f"mm map {pid}"]
    assert t["mm show"].strip() == "kernel-base  0xc0000000  (the default)"
    assert t["mm set kernel-base 0xc4000000"].strip() == \
        "kernel-base  0xc4000000  (set by mm set kernel-base)"
    assert t["mm set"].strip() == "kernel-base  0xc4000000  (set by mm set kernel-base)"
    assert t["mm set kernel-base default"].strip() == "kernel-base  0xc0000000  (the default)"

    # A number that is no page directory (past RAM: reads as zeros) gives an
    # empty map, and a note saying why.
    for command, directory in (("mm map 0x7000000", 0x7000000), ("mm pt 0x20000000", 0x20000000)):
        assert t[command].rstrip().endswith(
            f"note: no PDE is present in the page directory at {directory:#010x}: is it one?  "
            "A CR3 is a physical address ('mm map $cr3' for the current one)"), t[command]
    assert first.rstrip().endswith("page tables"), "no note for a real directory"


def test_another_programs_symbols_get_no_labels_and_no_pid_lookups(run_gdb, firmware):
    hello = firmware.user_program("hello")
    t = run_gdb(["mm map $cr3", "mm vtop 0xc0100000 $cr3", "mm pt $cr3 0xc0100000+0x1000",
                 "mm procs", "mm heap"], symbols=hello, after=machine_view)
    view = t.seen
    out = t["mm map $cr3"]
    assert out.splitlines()[0] == f"address space of cr3 {view['cr3']:#010x} [current]", out
    assert merged(t.regions(out)) == [
        (r.start, r.end, ("u" if r.user else "-") + "r" + ("w" if r.write else "-"))
        for r in view["mem"]]
    assert "  -> 0x00100000" in t["mm vtop 0xc0100000 $cr3"].splitlines()
    check_pt_range(t["mm pt $cr3 0xc0100000+0x1000"], view, 0xC0100000, 0xC0101000)
    for command in ("mm procs", "mm heap"):
        assert f"the loaded symbols ({hello}) are not this firmware's" in t[command], t[command]


PS_PDE = 0x008000E7  # 4 MiB at 0x00800000: P W U A D PS


def test_a_4mib_page_in_vtop_and_pt_matches_info_tlb(run_gdb):
    # The firmware maps only 4 KiB pages: put a PS PDE in the kernel
    # directory's unused PDE 1 (va 0x00400000), through physical memory, then
    # turn on CR4.PSE.  The machine is thrown away afterwards, so it stays
    # there for QEMU and the walker to see.
    t = run_gdb(["maintenance packet Qqemu.PhyMemMode:1",
                 f"set var *(unsigned int *)(($cr3 & 0xfffff000) + 4) = {PS_PDE:#x}",
                 "maintenance packet Qqemu.PhyMemMode:0", "mm vtop 0x512345 $cr3",
                 "monitor gva2gpa 0x512345", "mm pt $cr3 0x400000+0x2000",
                 "set $cr4 = $cr4 | 0x10", "mm vtop 0x512345 $cr3",
                 "monitor gva2gpa 0x512345", "mm pt $cr3 0x400000-0x800000",
                 "mm pt $cr3 0x3ff000-0x401000", "mm map $cr3"],
                symbols=None, after=machine_view)
    view = t.seen
    # CR4.PSE off: the CPU ignores PS and reads the PDE as a page table (at
    # 8 MiB, zeros: nothing mapped); the dumps show the raw PDE and say so.
    off, on = t.after("mm vtop 0x512345 $cr3")
    assert off.splitlines()[1:] == [
        "va 0x00512345: PDX 1 PTX 274 offset 0x345",
        f"  PDE {PS_PDE:#010x} -> 0x00800000 [PWUADS] (PS ignored: CR4.PSE is off, so a "
        "page table)", "  PTE 0x00000000 -> 0x00000000 [-]", "  -> not mapped"], off
    assert "Unmapped" in t.after("monitor gva2gpa 0x512345")[0]
    assert t["mm pt $cr3 0x400000+0x2000"].splitlines()[2:] == [
        f"PDE      1  0x00400000  {PS_PDE:#010x}  0x00800000  PWU--ADS-  page table; PS "
        "ignored: CR4.PSE is off", "  (2 not-present PTEs skipped)",
        "present: 1 PDEs (0 4 MiB pages, 1 page tables), 0 PTEs; not present, skipped: "
        "0 PDEs, 2 PTEs"]

    assert on.splitlines()[1:] == [
        "va 0x00512345: PDX 1, 4 MiB page, offset 0x112345",
        f"  PDE {PS_PDE:#010x} -> 0x00800000 [PWUADS] (4 MiB page)",
        "  -> 0x00912345", "  effective: user, read-write"]
    assert "gpa: 0x912345" in t.after("monitor gva2gpa 0x512345")[1]
    assert view["aspace"].translate(0x512345).pa == 0x912345
    tlb = view["tlb"][0x400000]
    assert (tlb.pa, tlb.large, tlb.user, tlb.write, tlb.accessed, tlb.dirty) == (
        0x800000, True, True, True, True, True)
    assert not any(0x400000 < va < 0x800000 for va in view["tlb"]), "one line, 4 MiB"

    row = f"PDE      1  0x00400000  {PS_PDE:#010x}  0x00800000  PWU--ADS-  4 MiB page"
    out = t["mm pt $cr3 0x400000-0x800000"]
    assert out.splitlines()[1:] == [
        "       idx  virtual     entry       points to   PWUTCADSG", row,
        "present: 1 PDEs (1 4 MiB pages, 0 page tables), 0 PTEs; "
        "not present, skipped: 0 PDEs, 0 PTEs"], out
    assert "CR4.PSE on" in out.splitlines()[0]
    edge = t["mm pt $cr3 0x3ff000-0x401000"]
    assert row in edge.splitlines() and "skipped: 1 PDEs, 0 PTEs" in edge, edge
    assert (0x400000, 0x800000, "urw", False) in t.regions(t["mm map $cr3"])
