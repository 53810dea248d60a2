"""mm map and mm vtop on a CPU in PAE mode with EFER.NXE, in a plain batch
GDB: the firmware runs legacy paging, so GDB itself builds a small PAE space
(a PDPT, a directory, a table and a data page in frames from the kernel's
allocate_page, written in QEMU's physical-memory mode) and switches the
stopped CPU to it.  The commands must notice the mode from CR4 and EFER and
show the X right; QEMU's info mem and info tlb, read in the same session,
are the oracle for the map.  mm pt says it does not dump PAE tables yet."""

import re

import pytest

from harness.decode.qemuview import parse_info_mem, parse_info_tlb

pytestmark = pytest.mark.qemu

P, W, U, PS = 0x1, 0x2, 0x4, 0x80
NX = 1 << 63
HUGE_PA = 0x400000  # a 2 MiB page at 4 MiB: RAM the test only maps, never writes

SETUP = [
    "set $saved_cr3 = $cr3", "set $saved_cr4 = $cr4", "set $saved_efer = $efer",
    "set $pdpt = (unsigned)allocate_page()", "set $dir = (unsigned)allocate_page()",
    "set $table = (unsigned)allocate_page()", "set $data = (unsigned)allocate_page()",
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
    "output/x $data",
]
RESTORE = ["set $cr3 = $saved_cr3", "set $cr4 = $saved_cr4", "set $efer = $saved_efer"]
# "0x00001000  0x00002000       4 KiB  ur-x"
PAE_ROW = re.compile(r"^(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+\d+ [KM]iB\s+([-u]r[-w][-x])$",
                     re.MULTILINE)


def test_map_and_vtop_show_pae_tables_and_the_x_right(run_gdb):
    commands = [*SETUP, "mm map", "mm vtop 0x1004", "mm vtop 0x200123", "mm vtop 0x40000000",
                "mm pt", "monitor info mem", "monitor info tlb", *RESTORE]
    t = run_gdb(commands)
    data = int(t["output/x $data"].strip(), 16)

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
    assert "PAE mode" in t["mm pt"] and "mm vtop" in t["mm pt"]
