"""A disk that does not answer in time: the request is abandoned after
BLK_TIMEOUT_TICKS (2 s, measured with the CMOS clock) with -ETIMEDOUT and a
timeout record, not a hang.  The disk is QEMU's null-aio driver with a
latency of 2.6 s per request (a little over the timeout: stopping the VM
afterwards waits for the request QEMU still has in flight).

With DMA, stopping the bus master after the timeout makes QEMU finish the
transfer first (it cancels DMA synchronously), so the call returns after
the whole latency; with PIO it returns at the timeout."""

import time

import pytest

from harness.machine.disks import DiskSpec, raw_image
from tests.disk.test_ata import blk_read

ETIMEDOUT = 110
SLOW = DiskSpec("hda", size="1M", latency_ms=2600)
# A good disk on the same channel (the primary's slave), sector 10 known.
NEIGHBOUR_SECTOR = bytes(range(256)) * 2
NEIGHBOUR = DiskSpec("hdb", size="1M", image=raw_image({10: NEIGHBOUR_SECTOR}, "1M"))


@pytest.fixture(params=["ata_dma=on", "ata_dma=off"], ids=["dma", "pio"])
def extra_cmdline(request):
    return request.param


@pytest.mark.machine(disks=[SLOW])
def test_request_that_never_completes_times_out(machine):
    mark = machine.mark()
    ticks = int(machine.evaluate("rtc_ticks"))
    start = time.monotonic()
    assert blk_read(machine, "hda", 10, 1)[0] == -ETIMEDOUT
    assert time.monotonic() - start >= 2.0
    # 2 s of 8 Hz is 16 ticks, the wait ends at the 17th; the channel reset
    # after it may wait for the request QEMU abandons (0.6 s more at most).
    assert 17 <= int(machine.evaluate("rtc_ticks")) - ticks <= 17 + 6
    [record] = [r.fields for r in machine.records("DISK", since=mark)]
    assert (record["error"], record["op"], record["lba"]) == ("timeout", "read", "10")
    assert int(machine.evaluate("ata_stats.timeouts")) == 1



@pytest.mark.machine(disks=[SLOW, NEIGHBOUR])
def test_channel_works_at_once_after_a_timeout(machine):
    """After hda's request timed out the driver resets the channel (SRST),
    so a request to hdb, the other drive on the same channel, gets hdb's
    own sector at once: without the reset, PIO finds hda still holding the
    abandoned command (busy, then its data pending, which makes the drive
    select be ignored) and polls POLL_LIMIT times or reads the wrong drive."""
    assert blk_read(machine, "hda", 10, 1)[0] == -ETIMEDOUT
    assert int(machine.evaluate("ata_stats.resets")) == 1
    mark = machine.mark()
    start = time.monotonic()
    assert blk_read(machine, "hdb", 10, 1) == (0, NEIGHBOUR_SECTOR)
    assert time.monotonic() - start < 1.0
    assert machine.records("DISK", since=mark) == []
    assert int(machine.evaluate("ata_stats.timeouts")) == 1
    assert int(machine.evaluate("ata_stats.resets")) == 1
