"""Descriptors across fork and exit: a child writes through the descriptor
it inherited, the parent through its own; neither closes, and exit drops
each reference, so the open file is freed once both have ended."""

import pytest

from harness.machine.disks import DiskSpec


@pytest.mark.machine(modules=["user/diskfork"], disks=[DiskSpec("hda", size="1M")])
def test_fork_shares_and_exit_closes(machine, kernel, userland):
    live = kernel.heap_stats()["live_blocks"]
    pid = userland.spawn("diskfork", "/dev/hda")
    results = userland.run()
    assert [(r.status, r.killed) for r in results.values()] == [(0, False), (0, False)]
    [claim] = userland.claims("USER", pid=pid)
    assert (claim["fd"], claim["child"], claim["parent"], claim["fsync"]) == ("3", "0", "6", "0")
    assert machine.read_disk("hda", 1000, 5) == b"child"
    assert machine.read_disk("hda", 2000, 6) == b"parent"
    # The struct file is gone (the buffer cache keeps its one buffer, not on the heap's books
    # except its struct buf: one block more than before).
    assert kernel.heap_stats()["live_blocks"] == live + 1
