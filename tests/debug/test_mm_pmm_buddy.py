"""mm pmm's buddy and node sections at kernel_ready: per order, the free
blocks the maps hold (as mm pmm counts them), the bitmap's own maximal
blocks (the harness's derivation) and buddy_free_blocks(k) called in the
guest all agree; the frames in them are every free frame; failures and
repairs are buddy_stats'; the node row is pmm_node_stats' (free frames
from pmm_stats with one node, which does not keep the node's)."""

import re

import pytest

pytestmark = pytest.mark.qemu

ORDERS = 11


def test_the_buddy_orders_and_the_node_match_the_kernel(run_gdb):
    calls = [f"print buddy_free_blocks({k})" for k in range(ORDERS)]
    t = run_gdb(["set print repeats unlimited", "mm pmm", *calls, "print buddy_stats",
                 "print pmm_node_stats[0]", "print pmm_stats", "print pmm_node_count"])
    out = t["mm pmm"]
    in_guest = [int(re.search(r"= (\d+)", t[c])[1]) for c in calls]
    printed = t["print buddy_stats"]
    failures = [int(x) for x in re.search(r"failures = \{([\d, ]+)\}", printed)[1].split(",")]
    repairs = int(re.search(r"repairs = (\d+)", printed)[1])
    rows = [tuple(int(x) for x in m.group(1, 3, 4, 5, 6)) for m in re.finditer(
        r"^ *(\d+) +([\d.]+ [KM]iB) +(\d+) +(\d+) +(\d+) +(\d+)$", out, re.MULTILINE)]
    assert [r[0] for r in rows] == list(range(ORDERS)), out
    assert [r[1] for r in rows] == in_guest, "the maps' count is buddy_free_blocks'"
    assert [r[3] for r in rows] == in_guest, "the bitmap's blocks are the maps' blocks"
    assert [r[2] for r in rows] == [b << k for k, b in enumerate(in_guest)]
    assert [r[4] for r in rows] == failures
    assert "the maps and the bitmap agree" in out
    assert f"(repairs): {repairs}" in out
    free = int(re.search(r"free_frames = (\d+)", t["print pmm_stats"])[1])
    assert sum(r[2] for r in rows) == free, "the blocks hold every free frame"
    assert sum(in_guest[5:]) > 0 and in_guest[10] > 0, "a fresh machine has large blocks"
    assert int(re.search(r"= (\d+)", t["print pmm_node_count"])[1]) == 1
    node = {k: int(v) for k, v in re.findall(r"(\w+) = (\d+)", t["print pmm_node_stats[0]"])}
    assert node["free_frames"] == 0, "one node: its counter is not kept"
    line = re.search(r"^ *0 +0x0 +(0x[0-9a-f]+) +(\d+) +(\d+) +(\d+) +(\d+)$", out, re.MULTILINE)
    assert line, out
    assert (int(line[1], 16) // 4096, int(line[2]), int(line[3]), int(line[4]), int(line[5])) == \
        (node["end"], node["frames"], free, node["allocations"], node["fallbacks"])
