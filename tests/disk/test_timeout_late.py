"""After a DMA request timed out, its interrupt comes late, while the next
request waits (see test_timeout.py for the slow disk)."""

import time

import pytest

from tests.disk.test_ata import blk_read
from tests.disk.test_timeout import ETIMEDOUT, SLOW


@pytest.mark.machine(disks=[SLOW])
def test_late_interrupt_does_not_end_the_next_request(machine):
    """The abandoned request's interrupt comes late, while the next request
    waits: that request must still wait for its own (and time out too), not
    return at the first interrupt it sees."""
    assert blk_read(machine, "hda", 10, 1)[0] == -ETIMEDOUT
    start = time.monotonic()
    assert blk_read(machine, "hda", 11, 1)[0] == -ETIMEDOUT
    assert time.monotonic() - start >= 2.0
    assert int(machine.evaluate("ata_stats.timeouts")) == 2
