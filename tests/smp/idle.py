"""Where an AP idles (kernel/smp.c's ap_idle), for the SMP tests."""

import re


def idle_resume_address(machine):
    """Where an AP halted in ap_idle stands: just after its hlt, found by
    GDB's disassembly (a coverage image puts a profiling call first, and a
    0xf4 byte could be part of another instruction)."""
    listing = machine.gdb.console(f"x/16i {machine.symbol('ap_idle'):#x}")
    found = re.search(r"^\s*(?:=>\s*)?(0x[0-9a-f]+)[^:\n]*:\s+hlt\s*$", listing, re.M)
    assert found, f"ap_idle executes hlt:\n{listing}"
    return int(found[1], 16) + 1  # hlt is one byte
