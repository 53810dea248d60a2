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

from harness.machine.disks import DiskSpec
from tests.disk.test_ata import blk_read

ETIMEDOUT = 110
SLOW = DiskSpec("hda", size="1M", latency_ms=2600)


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
    assert int(machine.evaluate("rtc_ticks")) - ticks == 17  # 2 s of 8 Hz, and one more
    [record] = [r.fields for r in machine.records("DISK", since=mark)]
    assert (record["error"], record["op"], record["lba"]) == ("timeout", "read", "10")
    assert int(machine.evaluate("ata_stats.timeouts")) == 1

