"""A crash: QEMU killed (SIGKILL) after a process fsynced some writes and
made others it never synced.  On the host afterwards the synced bytes are in
the image, exactly; the unsynced ones may be lost, but never half a block:
each block is either what it was or what was written."""

import pytest

from harness.machine.disks import DiskSpec, raw_image
from tests.disk.diskio import MODULES, pattern, run_diskio

OLD = bytes([0xA5]) * (64 << 10)
HDA = DiskSpec("hda", size="1M", image=raw_image({0: OLD}, "1M"))
BLOCK = 4096


@pytest.mark.cold_boot
@pytest.mark.machine(modules=MODULES, disks=[HDA])
def test_kill_before_sync_keeps_every_synced_write(machine, userland):
    # The periodic flush must not run in between: its clock starts now.
    machine.write_u32(machine.symbol("last_flush"), machine.call_value("rtc_seconds"))
    run = run_diskio(userland, "/dev/hda rw w:1000:5000:1 w:20000:3000:2 f w:40000:9000:3")
    assert run.rc("f") == [0] and run.rc("w") == [5000, 3000, 9000]
    machine.qemu.stop(kill=True)  # the crash: no flush, no clean shutdown
    assert machine.qemu.proc is None

    image = machine.read_disk("hda", 0, 64 << 10)
    assert image[1000:6000] == pattern(1000, 5000, 1)
    assert image[20000:23000] == pattern(20000, 3000, 2)
    expected = bytearray(OLD)
    expected[1000:6000] = pattern(1000, 5000, 1)
    expected[20000:23000] = pattern(20000, 3000, 2)
    written = bytearray(expected)
    written[40000:49000] = pattern(40000, 9000, 3)
    for start in range(0, len(image), BLOCK):  # the unsynced write: per block, old or new
        block = image[start:start + BLOCK]
        assert block in (expected[start:start + BLOCK], written[start:start + BLOCK]), start
