"""The mm GDB commands (harness/gdbcmds) on Debian's kernel, in a GDB with no
symbol file, stopped in mmvprobe's read(): ``mm map $cr3`` equals QEMU's
``info mem`` and ``mm pt`` lists exactly the entries the harness's walker
reads and ``info tlb`` shows.

The GDB is the machine's own (the Linux profile has symbol_file=None, so it
runs with no symbol file in i386 mode, as a person's would): QEMU's gdbstub
takes one debugger at a time, and this one already stopped the guest where
the test wants it.  mm.py is sourced by its path, as by hand; that a batch
GDB started by hand behaves the same is tests/debug's (on the firmware)."""

from __future__ import annotations

import re

import pytest

from harness.decode import paging
from harness.decode.qemuview import parse_info_mem, parse_info_tlb
from harness.targets.linux.kernel import PAGE_OFFSET
from harness.targets.mmverify.build import REPO

from .conftest import stop_in_read

pytestmark = pytest.mark.machine(target="linux")

MM_SCRIPT = REPO / "harness" / "gdbcmds" / "mm.py"
# "0x08048000   0x08049000       4 KiB  ur-" (and "  global" for global pages)
REGION_ROW = re.compile(r"^(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+\d+(?:\.\d)? [KM]iB\s+([-u])r([-w])"
                        r"( +global)?$", re.MULTILINE)
PTE_ROW = re.compile(r"^  PTE +(\d+)  (0x[0-9a-f]{8})  (0x[0-9a-f]{8})  (0x[0-9a-f]{8})  "
                     r"([-A-Z]{9})$", re.MULTILINE)


def test_mm_map_and_mm_pt_without_symbols_agree_with_qemu(machine, shell, ksym, probe):
    stop_in_read(machine, shell, ksym, probe, "block")
    gdb = machine.gdb
    gdb.console(f"source {MM_SCRIPT}")

    regions = [(int(m[1], 16), int(m[2], 16), m[3] == "u", m[4] == "w")
               for m in REGION_ROW.finditer(gdb.console("mm map $cr3"))]
    qemu = [(r.start, r.end, r.user, r.write)
            for r in parse_info_mem(machine.monitor("info mem"))]
    assert regions == qemu
    assert any(s <= probe["mmv_marker"] < e and u and w for s, e, u, w in regions)

    start, end = probe["mmv_marker"] & ~0x3FFFFF, (probe["mmv_marker"] & ~0x3FFFFF) + 0x400000
    listed = [(int(m[2], 16), int(m[3], 16), int(m[4], 16))
              for m in PTE_ROW.finditer(gdb.console(f"mm pt $cr3 {start:#x}-{end:#x}"))]
    walker = [(m.va, m.pte, m.pa) for m in machine.address_space().mappings(start, end)]
    assert listed == walker and listed, "every present PTE of the probe's 4 MiB"
    tlb = parse_info_tlb(machine.monitor("info tlb"))
    assert [(va, tlb[va].pa) for va, _, _ in listed] == [(va, pa) for va, _, pa in listed]
    assert {va for va in tlb if start <= va < end} == {va for va, _, _ in listed}
    assert all(raw & paging.USER for _, raw, _ in listed) and start < PAGE_OFFSET
