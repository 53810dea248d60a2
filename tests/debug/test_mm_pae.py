"""mm map, mm vtop and mm pt on a CPU in PAE mode with EFER.NXE, in a plain
batch GDB: the firmware runs legacy paging, so GDB itself builds a small PAE
space (a PDPT, a directory, a table and a data page in frames from the
kernel's allocate_page, written in QEMU's physical-memory mode) and switches
the stopped CPU to it.  The commands must notice the mode from CR4 and EFER
and show the X right; QEMU's info mem and info tlb, read in the same
session, are the oracle for the map.  Run twice: with the firmware's
symbols, and as on a PAE kernel that is not ours (no symbol file; the
frames come from a call through allocate_page's bare address), where only
$cr3 and CR4 say what to walk."""

import re

import pytest

from harness.decode.qemuview import parse_info_mem, parse_info_tlb

from .conftest import elf_symbol

pytestmark = pytest.mark.qemu

P, W, U, PS = 0x1, 0x2, 0x4, 0x80
NX = 1 << 63
HUGE_PA = 0x400000  # a 2 MiB page at 4 MiB: RAM the test only maps, never writes



def setup(alloc: str) -> list[str]:
    """Build the tables with frames from ``alloc`` (a call expression) and
    switch the CPU to them; the last four commands print the frames."""
    return [
        "set $saved_cr3 = $cr3", "set $saved_cr4 = $cr4", "set $saved_efer = $efer",
        f"set $pdpt = (unsigned){alloc}", f"set $dir = (unsigned){alloc}",
        f"set $table = (unsigned){alloc}", f"set $data = (unsigned){alloc}",
        "maintenance packet Qqemu.PhyMemMode:1",
        # table: PTE 0 user read-write NX, PTE 1 user read-only executable
        f"set {{unsigned long long}}$table = $data | {P | W | U} | {NX:#x}ULL",
        f"set {{unsigned long long}}($table + 8) = $data | {P | U}",
        # directory: PDE 0 -> the table, PDE 1 a supervisor 2 MiB page with NX
        f"set {{unsigned long long}}$dir = $table | {P | W | U}",
        f"set {{unsigned long long}}($dir + 8) = {HUGE_PA | P | W | PS:#x} | {NX:#x}ULL",
        # the PDPT 32 bytes into its page, as CR3 allows under PAE: PDPTE 0 only
        f"set {{unsigned long long}}($pdpt + 0x20) = $dir | {P}",
        "maintenance packet Qqemu.PhyMemMode:0",
        "set $efer = $efer | 0x800", "set $cr4 = $cr4 | 0x20", "set $cr3 = $pdpt + 0x20",
        "output/x $data", "output/x $table", "output/x $dir", "output/x $pdpt",
    ]


RESTORE = ["set $cr3 = $saved_cr3", "set $cr4 = $saved_cr4", "set $efer = $saved_efer"]
# "0x00001000  0x00002000       4 KiB  ur-x"
PAE_ROW = re.compile(r"^(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+\d+ [KM]iB\s+([-u]r[-w][-x])$",
                     re.MULTILINE)


def frame(t, name: str) -> int:
    return int(t[f"output/x ${name}"].strip(), 16)


@pytest.mark.parametrize("symbols", ["firmware", None])
def test_map_vtop_and_pt_show_pae_tables_and_the_x_right(run_gdb, firmware, symbols):
    alloc = ("allocate_page()" if symbols else
             f"((unsigned (*)(void)){elf_symbol(firmware.kernel, 'allocate_page'):#x})()")
    commands = [*setup(alloc), "mm map", "mm vtop 0x1004", "mm vtop 0x200123",
                "mm vtop 0x40000000", "mm pt", "mm pt $cr3 0x1000",
                "monitor info mem", "monitor info tlb", *RESTORE]
    t = run_gdb(commands, symbols=symbols)
    data, table, directory, pdpt = (frame(t, n) for n in ("data", "table", "dir", "pdpt"))

    out = t["mm map"]
    assert "(PAE, EFER.NXE on)" in out, out
    rows = [(int(m[1], 16), int(m[2], 16), m[3]) for m in PAE_ROW.finditer(out)]
    assert rows == [(0x0, 0x1000, "urw-"), (0x1000, 0x2000, "ur-x"),
                    (0x200000, 0x400000, "-rw-")], out
    # QEMU's view of the same tables (no execute column in info mem; X in info tlb).
    assert [(r.start, r.end, "u" if r.user else "-", r.write)
            for r in parse_info_mem(t["monitor info mem"])] == [
        (0x0, 0x1000, "u", True),
        (0x1000, 0x2000, "u", False), (0x200000, 0x400000, "-", True)]
    tlb = parse_info_tlb(t["monitor info tlb"])
    assert {va: (e.pa, e.nx, e.large) for va, e in tlb.items()} == {
        0x0: (data, True, False), 0x1000: (data, False, False),
        0x200000: (HUGE_PA, True, True)}

    vtop = t["mm vtop 0x1004"]
    assert "PDPI 0 PDX 0 PTX 1 offset 0x4" in vtop, vtop
    assert f"-> {data + 4:#x} ur-x" in vtop, vtop
    assert "effective: user, read-only, executable" in vtop, vtop
    huge = t["mm vtop 0x200123"]
    assert f"PDE {HUGE_PA | P | W | PS | NX:#018x}" in huge, huge
    assert f"-> {HUGE_PA + 0x123:#x} -rw-" in huge, huge
    assert "effective: supervisor, read-write, not executable (NX)" in huge, huge
    assert "not mapped" in t["mm vtop 0x40000000"]

    # mm pt: each level's 64-bit entry, its flags (N: bit 63), the rights with x.
    pdpte_row = (f"PDPTE    0  0x00000000  {directory | P:#018x}  {directory:#011x}  "
                 f"P---------          page directory")
    pde_row = (f" PDE     0  0x00000000  {table | P | W | U:#018x}  {table:#011x}  "
               f"PWU-------          page table")
    pte1_row = f"  PTE    1  0x00001000  {data | P | U:#018x}  {data:#011x}  P-U-------  ur-x"
    pt = t["mm pt"].splitlines()
    assert pt[0].endswith(f", 0x00000000-0x100000000; PAE, PDPT at {pdpt + 0x20:#010x}, "
                          "EFER.NXE on"), pt
    assert pt[2:] == [
        pdpte_row, pde_row,
        f"  PTE    0  0x00000000  {data | P | W | U | NX:#018x}  {data:#011x}  "
        "PWU------N  urw-",
        pte1_row,
        "  (510 not-present PTEs skipped)",
        f" PDE     1  0x00200000  {HUGE_PA | P | W | PS | NX:#018x}  {HUGE_PA:#011x}  "
        "PW-----S-N  -rw-    2 MiB page",
        "present: 1 PDPTEs, 2 PDEs (1 2 MiB pages, 1 page tables), 2 PTEs; "
        "not present, skipped: 3 PDPTEs, 510 PDEs, 510 PTEs"], pt
    one = t["mm pt $cr3 0x1000"].splitlines()
    assert one[0].endswith(", 0x00001000-0x00001001; PAE, PDPT at "
                           f"{pdpt + 0x20:#010x}, EFER.NXE on"), one
    assert one[2:] == [pdpte_row, pde_row, pte1_row,
                       "present: 1 PDPTEs, 1 PDEs (0 2 MiB pages, 1 page tables), 1 PTEs; "
                       "not present, skipped: 0 PDPTEs, 0 PDEs, 0 PTEs"], one
