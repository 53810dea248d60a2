"""mm procs, mm map PID and mm vtop ADDR PID with a user process, first
waiting (READY, the kernel stopped at kernel_ready), then stopped in user mode
at the program's first instruction."""

import re

import pytest
from elftools.elf.elffile import ELFFile

pytestmark = pytest.mark.qemu

SPAWN = ['set {char[6]}agent_scratch = "hello"', "print proc_spawn(agent_scratch, 0, 0)"]


def test_a_spawned_process_in_procs_map_and_vtop(run_gdb, firmware):
    with open(firmware.user_program("hello"), "rb") as f:
        entry = ELFFile(f).header["e_entry"]
    t = run_gdb([*SPAWN, "mm procs", "print/x proc_table[0].mm.cr3", "mm map 1", "mm vtop 0x1000 1",
                 f"hbreak *{entry:#x}", "call sched_run()", "print $cs", "mm procs", "mm map",
                 "mm heap"])
    pid = int(t["print proc_spawn(agent_scratch, 0, 0)"].split("=")[1])
    assert pid == 1
    cr3 = int(t["print/x proc_table[0].mm.cr3"].split("=")[1], 16)

    waiting, running = t.after("mm procs")
    assert "current: none (the kernel, pid 0)" in waiting
    row = re.search(rf"^ *{pid}  ready  hello  {cr3:#010x}  0x80000000\.\.0x80000000  "
                    r"0xbff00000\.\.0xc0000000  0xa0000000 +(\d+) +0$", waiting, re.MULTILINE)
    assert row, waiting
    assert f"current: pid {pid}" in running
    assert re.search(rf"^\* +{pid}  running  hello  {cr3:#010x}", running, re.MULTILINE), running

    out = t["mm map 1"]
    assert f"cr3 {cr3:#010x}: pid 1 (hello)" in out and "[current]" not in out
    rows = t.regions(out)
    user = [r for r in rows if r[1] <= 0xC0000000]
    kernel = [r for r in rows if r[0] >= 0xC0000000]
    assert (0x1000, 0x2000, "ur-", False) in user, f"text at 0x1000, user read-only:\n{out}"
    assert (0xBFFFF000, 0xC0000000, "urw", False) in user, "the first stack page"
    assert len(user) + len(kernel) == len(rows)
    assert kernel and all(r[2].startswith("-") for r in kernel), "the kernel half is supervisor"
    assert any(r[0] == 0xC0100000 and r[2] == "-r-" for r in kernel)

    vtop = t["mm vtop 0x1000 1"]
    assert "PDX 0 PTX 1" in vtop and "effective: user, read-only" in vtop
    assert re.search(r"PTE 0x[0-9a-f]{8} -> 0x[0-9a-f]{8} \[P[^W\]]*U", vtop), vtop

    # Stopped at the program's entry, in ring 3, in its address space.
    assert int(t["print $cs"].split("=")[1]) & 3 == 3
    current = t["mm map"]
    assert "pid 1 (hello) [current]" in current
    assert t.regions(current) == rows
    heap = t["mm heap"]
    assert "heap_check(): not run: the CPU is in user mode" in heap
    assert "live blocks: 0" in heap
