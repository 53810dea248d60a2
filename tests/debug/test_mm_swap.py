"""mm swap with a process whose heap is in swap (the pool alone: no swap
disk): stopped at the program's checkpoint after its pageout, the command
lists every slot's PTE and calls the slot map consistent; then a slot's
reference count poked wrong, which it must call a problem."""

import re

import pytest
from elftools.elf.elffile import ELFFile

pytestmark = pytest.mark.qemu

SPAWN = ['set {char[8]}agent_scratch = "swapper"', 'set {char[8]}(agent_scratch + 8) = "4 t 3 p"',
         "print proc_spawn(agent_scratch, agent_scratch + 8, 0)"]


def checkpoint_address(firmware) -> int:
    with open(firmware.user_program("swapper"), "rb") as f:
        symbols = ELFFile(f).get_section_by_name(".symtab").get_symbol_by_name("checkpoint")
    return symbols[0]["st_value"]


def test_mm_swap_lists_the_slots_ptes_and_audits_them(run_gdb, firmware):
    t = run_gdb([*SPAWN, f"hbreak *{checkpoint_address(firmware):#x}", "call sched_run()",
                 "mm swap", "set swap_map[1] = 2", "mm swap"], modules=("swapper",))
    assert int(t[SPAWN[2]].split("=")[1]) == 1
    good, bad = t.after("mm swap")
    lines = good.splitlines()
    assert lines[0] == "swap: dev none (pool only), slots 16383 (1..16383): in use 4, " \
                       "retired 0, free 16379", good
    assert lines[1].startswith("  swap-outs 4 (pool 4, disk 0), swap-ins 0 "), good
    assert re.match(r"pool: 4 pages \(0 same-filled\), \d+ of \d+ bytes, ratio \d+\.\d\d, "
                    r"write-backs 0 \(errors 0\), rejected 0$", lines[2]), good
    assert lines[3:8] == ["PTEs naming slots: 4",
                          "  pid 1 (swapper)  va 0x80000000  slot 1       U W",
                          "  pid 1 (swapper)  va 0x80001000  slot 2       U W",
                          "  pid 1 (swapper)  va 0x80002000  slot 3       U W",
                          "  pid 1 (swapper)  va 0x80003000  slot 4       U W"], good
    assert lines[8:] == ["swap cache: 0 frames", "audit: consistent"], good
    assert bad.splitlines()[-2:] == [
        "audit: 1 problems",
        "problem: slot 1: refs=2, expected 1 (1 swap entries: pid 1 (swapper) va 0x80000000 "
        "slot 1)"], bad
