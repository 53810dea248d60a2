"""mm cache under a real GDB: the buffer cache's totals, the disks and each
cached block, after buffers were read, dirtied and held through kernel calls."""

import re

import pytest

from harness.machine.disks import DiskSpec

pytestmark = pytest.mark.qemu

HDA = DiskSpec("hda", size="4M")


def test_cache_totals_disks_and_buffers(run_gdb):
    err = "(int *)&agent_scratch"
    t = run_gdb(["mm cache", "set var $d = &blk_devices[0]",
                 f"set var $a = bcache_get($d, 3, {err})",
                 f"call bcache_put(bcache_get($d, 5, {err}))",
                 f"call bcache_put(bcache_get($d, 5, {err}))",
                 f"set var $w = bcache_get_noread($d, 7, {err})", "call bcache_mark_dirty($w)",
                 "call bcache_put($w)", "mm cache", "mm cache buffers", "mm cache bogus"],
                disks=[HDA])
    empty, full = t.after("mm cache")
    assert "buffer cache: 0 buffers of " in empty and "0 dirty; hits 0, misses 0 (hit rate -)" \
        in empty, empty
    assert re.search(r"^hda +8192  QEMU HARDDISK +0 +0 +0 ", empty, re.M), empty
    assert "buffer cache: 3 buffers of " in full and "(12 KiB), 1 dirty; hits 1, misses 3 " \
        "(hit rate 25.0%)" in full, full
    assert re.search(r"^hda +8192  QEMU HARDDISK +2 +0 +0 +16 +0 +0\s*$", full, re.M), full
    rows = re.findall(r"^0x[0-9a-f]{8}  (\w+) +(\d+) +(\d+)  (\S+) +0x[0-9a-f]+ +(\S+)$",
                      t["mm cache buffers"], re.M)
    assert rows == [("hda", "3", "1", "valid", "held"), ("hda", "5", "0", "valid", "1"),
                    ("hda", "7", "0", "valid,dirty", "0")], t["mm cache buffers"]
    assert "unexpected argument 'bogus'" in t["mm cache bogus"]
