"""``mm pools`` (harness/gdbcmds/pool_cmds.py) in the machine's own GDB,
mm.py sourced by its path as by hand: its rows against pool_table read by
the harness, its reserve chains against the chain in guest RAM, a drifted
reserve counter reported, and the heap's quick-fit lists."""

import re

from harness.targets.mmverify.build import REPO
from harness.targets.mmverify.pools import pool_reserve, pools

MM_SCRIPT = REPO / "harness" / "gdbcmds" / "mm.py"
ROW = re.compile(r"^(\w+)\s+(\d+ [KM]?i?B)\s+(\d+)/(\d+)" + r"\s+(\d+)" * 6 + "$", re.MULTILINE)


def test_mm_pools_shows_every_pool_and_its_reserve(machine, kernel):
    scratch = machine.symbol("agent_scratch")
    machine.write(scratch, b"small\0")
    small = machine.call("pool_create", scratch, 100, 2)
    held = machine.call("pool_alloc", small)
    machine.gdb.console(f"source {MM_SCRIPT}")
    text = machine.gdb.console("mm pools")
    live = pools(kernel)
    assert "pools: 2" in text
    rows = {m[1]: tuple(int(x) for x in m.groups()[2:]) for m in ROW.finditer(text)}
    assert rows == {name: (p["reserve_level"], p["min_objects"], p["in_use"], p["reserve_hits"],
                           p["failures"], p["refills"], p["top_ups"], p["foreign_frees"])
                    for name, p in live.items()}
    assert rows["small"][2] == 1
    for name, p in live.items():
        chain = " ".join(f"{a:#010x}" for a in pool_reserve(kernel, p))
        assert f"  {name} reserve: {chain}\n" in text
    assert "audit: consistent" in text
    level = machine.symbol("pool_table") + kernel.layout("pool").fields["reserve_level"].offset
    machine.write_u32(level, 5)  # pagetables: 4 in its chain
    drifted = machine.gdb.console("mm pools")
    assert "audit: 1 problems" in drifted
    assert ("problem: pagetables: the reserve chain holds 4 objects, reserve_level says 5"
            in drifted)
    machine.write_u32(level, 4)
    assert machine.call("pool_free", small, held) == 0


def test_mm_pools_shows_the_quick_fit_lists(machine, kernel):
    blocks = [machine.call("kmalloc", 6000) for _ in range(6)]
    for p in blocks:
        machine.call("kfree", p)  # the fourth, fifth and sixth are parked
    machine.gdb.console(f"source {MM_SCRIPT}")
    text = machine.gdb.console("mm pools")
    q = kernel.read_struct("heap_quick_stats", "heap_quick")
    assert (f"heap quick fit: hits {q['hits']}, misses {q['misses']}, flushes {q['flushes']} "
            f"({q['flushed_blocks']} blocks)") in text
    assert re.search(r"^\s*6048\s+3\s+6$", text, re.MULTILINE)
