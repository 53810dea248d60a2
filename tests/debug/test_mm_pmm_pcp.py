"""mm pmm's per-CPU frame cache section (firmware/mm/pcp.c) at kernel_ready
with pcp=on, after one more allocation through CPU 0's cache: the row is
what GDB prints from cpus[0].frames (count, the frame on top, the counters),
and the switch is named."""

import re

import pytest

pytestmark = pytest.mark.qemu


def test_the_cache_rows_are_the_kernels(run_gdb):
    frames = "cpus[0].frames"
    t = run_gdb(["print (unsigned)pcp_alloc()", "mm pmm", f"print {frames}.count",
                 f"print/x {frames}.pfns[{frames}.count - 1]", f"print {frames}.stats"],
                cmdline="aslr=off paging=legacy pcp=on")
    out = t["mm pmm"]
    count = int(re.search(r"= (\d+)", t[f"print {frames}.count"])[1])
    top = int(re.search(r"= (0x[0-9a-f]+)", t[f"print/x {frames}.pfns[{frames}.count - 1]"])[1],
              16)
    stats = [int(v) for v in re.findall(r"\w+ = (\d+)", t[f"print {frames}.stats"])]
    assert count > 0 and len(stats) == 6
    assert f"per-CPU frame caches (pcp=on; {count} frames cached" in out, out
    header = re.search(r"^ *cpu +cached +top +allocs +frees +refills +refilled +drains +drained$",
                       out, re.MULTILINE)
    assert header, out
    rows = [m.split() for m in re.findall(r"^ *\d+ +\d+ +(?:0x[0-9a-f]{8}|-)(?: +\d+){6}$", out,
                                          re.MULTILINE)]
    assert rows == [["0", str(count), f"{top * 4096:#010x}", *map(str, stats)]], out
