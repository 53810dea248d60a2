"""mm pmm's buddy and node sections at kernel_ready, against GDB's own print
of buddy_stats and pmm_node_stats (the kernel's counters) and against the
free frame count (every free frame is in exactly one block)."""

import re

import pytest

pytestmark = pytest.mark.qemu


def test_the_buddy_orders_and_the_node_match_the_kernel(run_gdb):
    t = run_gdb(["set print repeats unlimited", "mm pmm", "print buddy_stats",
                 "print pmm_node_stats[0]", "print pmm_stats"])
    out = t["mm pmm"]
    printed = t["print buddy_stats"]
    arrays = {name: [int(x) for x in body.split(",")]
              for name, body in re.findall(r"(\w+) = \{([\d, ]+)\}", printed)}
    rows = [tuple(int(x) for x in m.group(1, 3, 4, 5, 6, 7)) for m in re.finditer(
        r"^ *(\d+) +([\d.]+ [KM]iB) +(\d+) +(\d+) +(\d+) +(\d+) +(\d+)$", out, re.MULTILINE)]
    assert [r[0] for r in rows] == list(range(11)), out
    assert [r[1] for r in rows] == arrays["free_blocks"]
    assert [r[2] for r in rows] == [b << k for k, b in enumerate(arrays["free_blocks"])]
    assert [r[3:] for r in rows] == list(zip(arrays["splits"], arrays["merges"],
                                             arrays["failures"], strict=True))
    free = int(re.search(r"free_frames = (\d+)", t["print pmm_stats"])[1])
    assert sum(r[2] for r in rows) == free, "the blocks hold every free frame"
    node = {k: int(v) for k, v in re.findall(r"(\w+) = (\d+)", t["print pmm_node_stats[0]"])}
    line = re.search(r"^ *0 +0x0 +(0x[0-9a-f]+) +(\d+) +(\d+) +(\d+) +(\d+)$", out, re.MULTILINE)
    assert line, out
    assert (int(line[1], 16) // 4096, int(line[2]), int(line[3]), int(line[4]), int(line[5])) == \
        (node["end"], node["frames"], node["free_frames"], node["allocations"], node["fallbacks"])
    assert node["free_frames"] == free
