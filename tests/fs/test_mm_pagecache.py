"""``mm pagecache`` (harness/gdbcmds/pagecache_cmds.py), and ``mm cache``
which shows it after the buffer cache, in the machine's own
GDB, mm.py sourced by its path as by hand: its counters and rows against
the kernel's structures read by the harness, with two processes mapping a
file so the frames' reference counts show them."""

import re

import pytest

from harness.targets.mmverify.build import REPO
from tests.fs.conftest import PROGRAMS_DISK
from tests.fs.files import Checkpoints

pytestmark = pytest.mark.machine(disks=[PROGRAMS_DISK], cmdline="aslr=off")

MM_SCRIPT = REPO / "harness" / "gdbcmds" / "mm.py"
ROW = re.compile(r"^(/\S+)\s+(\d+)\s+(\d+)\s+(0x[0-9a-f]+)\s+(\d+)\s+(yes|NO)$", re.MULTILINE)


def test_mm_pagecache_shows_each_page_its_frame_and_its_holders(machine, userland, kernel):
    first = userland.spawn("/bin/fmap", "/hello.txt shared")
    second = userland.spawn("/bin/fmap", "/hello.txt shared")
    stops = Checkpoints(machine, userland)
    assert {stops.stop("fmap", 1), stops.stop("fmap", 1)} == {first, second}
    machine.gdb.console(f"source {MM_SCRIPT}")
    text = machine.gdb.console("mm pagecache")
    stats = kernel.pagecache_stats()
    hits, misses = stats["hits"], stats["misses"]
    assert (f"page cache: {stats['pages']} pages" in text
            and f"hits {hits}, misses {misses}, hit rate {100 * hits / (hits + misses):.1f}%"
            in text)
    paths = {f["ino"]: "/" + f["path"] for f in kernel.fs_files()}
    table = kernel.frame_table()
    expected = [(paths[e["ino"]], e["ino"], e["index"], e["pfn"] << 12, table[e["pfn"]].refs)
                for e in kernel.page_cache()]
    rows = [(m[1], int(m[2]), int(m[3]), int(m[4], 16), int(m[5])) for m in ROW.finditer(text)]
    assert rows == expected and all(m[6] == "yes" for m in ROW.finditer(text))
    assert [r[4] for r in rows if r[0] == "/hello.txt"] == [3]  # the cache and two mappings
    # mm cache: the buffer cache's part, then the same page-cache part
    both = machine.gdb.console("mm cache")
    assert both.index("buffer cache:") < both.index("page cache:")
    assert both[both.index("page cache:"):] == text[text.index("page cache:"):]
    stops.finish()
