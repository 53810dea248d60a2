"""Disk errors are an errno and one DISK record, never a hang or a panic:
a request past the end, a disk that is not there, and media errors QEMU's
blkdebug injects on read and on write.  The kernel stays up afterwards (a
good sector still reads)."""

import pytest

from harness.machine.disks import DiskError, DiskSpec
from tests.disk.test_ata import SECTOR, blk_read, device, pattern

EIO, ENXIO, EINVAL = 5, 6, 22
HDA = DiskSpec("hda", size="1M")
BAD_READ = DiskSpec("hda", size="1M", errors=(DiskError("read", sector=40),))
BAD_WRITE = DiskSpec("hda", size="1M", errors=(DiskError("write", sector=60),))


def errors(machine, since):
    return [r.fields for r in machine.records("DISK", since=since) if "error" in r.fields]


@pytest.mark.machine(disks=[HDA])
def test_read_past_the_end_is_einval_before_the_device(machine):
    """2048 sectors: lba 2047 + 2 sectors is refused, and QEMU saw no request."""
    mark = machine.mark()
    reads = machine.blockstats()["hda"]["rd_operations"]
    assert blk_read(machine, "hda", 2047, 2)[0] == -EINVAL
    assert blk_read(machine, "hda", 2048, 1)[0] == -EINVAL
    assert machine.blockstats()["hda"]["rd_operations"] == reads
    assert errors(machine, mark) == [
        {"error": "range", "dev": "hda", "op": "read", "lba": "2047", "count": "2",
         "status": "0x0", "err": "0x0"},
        {"error": "range", "dev": "hda", "op": "read", "lba": "2048", "count": "1",
         "status": "0x0", "err": "0x0"}]
    assert blk_read(machine, "hda", 2047, 1)[0] == 0  # the last sector is fine


@pytest.mark.machine(disks=[HDA])
def test_range_record_has_the_whole_64_bit_lba(machine):
    """An lba past 32 bits (2^32 + 10: a 64-bit argument, low word first)
    is refused, and its record names it whole, not its low 32 bits (10,
    a sector the disk has)."""
    mark = machine.mark()
    buf = machine.call_value("kmalloc", SECTOR)
    assert machine.call_value("blk_read", device(machine, "hda"), 10, 1, 1, buf) == -EINVAL
    machine.call("kfree", buf)
    assert [(e["error"], e["lba"]) for e in errors(machine, mark)] == [
        ("range", str((1 << 32) + 10))]


@pytest.mark.machine(disks=[HDA])
def test_missing_disk_is_enxio(machine):
    """hdb is not there: blk_find says NULL, a request on it -ENXIO with a record."""
    mark = machine.mark()
    assert blk_read(machine, "hdb", 0, 1)[0] == -ENXIO
    assert errors(machine, mark) == [{"error": "missing", "dev": "hdb", "op": "read",
                                      "lba": "0", "count": "1", "status": "0x0",
                                      "err": "0x0"}]
    name = machine.call_value("kmalloc", 8)
    machine.write(name, b"hdb\0")
    assert machine.call_value("blk_find", name) == 0
    machine.write(name, b"hda\0")
    assert machine.call_value("blk_find", name) == device(machine, "hda")


@pytest.fixture(params=["ata_dma=on", "ata_dma=off"], ids=["dma", "pio"])
def extra_cmdline(request):
    return request.param


@pytest.mark.machine(disks=[BAD_READ])
def test_media_error_on_read(machine):
    """A read covering sector 40 fails with -EIO and a media record naming the
    request; the device counted a failed read; sector 39 still reads."""
    mark = machine.mark()
    assert blk_read(machine, "hda", 38, 4)[0] == -EIO
    [record] = errors(machine, mark)
    assert (record["error"], record["op"], record["dev"]) == ("media", "read", "hda")
    assert int(record["status"], 16) & 0x01  # ERR in the status register
    assert machine.blockstats()["hda"]["failed_rd_operations"] >= 1
    assert blk_read(machine, "hda", 39, 1) == (0, bytes(SECTOR))
    assert int(machine.evaluate("blk_devices[0].stats.errors")) == 1


@pytest.mark.machine(disks=[BAD_WRITE])
def test_media_error_on_write(machine):
    """A write covering sector 60 fails with -EIO; the sectors before it were
    not touched by the failed request's record; the kernel goes on."""
    mark = machine.mark()
    buf = machine.call_value("kmalloc", 2 * SECTOR)
    machine.write(buf, pattern(9, 2 * SECTOR))
    hda = device(machine, "hda")
    assert machine.call_value("blk_write", hda, 59, 0, 2, buf) == -EIO
    [record] = errors(machine, mark)
    assert (record["error"], record["op"], record["lba"], record["count"]) == (
        "media", "write", "59", "2")
    assert machine.blockstats()["hda"]["failed_wr_operations"] >= 1
    assert machine.call_value("blk_write", hda, 10, 0, 2, buf) == 0
    assert machine.call_value("blk_flush", hda) == 0
    assert machine.read_disk("hda", 10 * SECTOR, 2 * SECTOR) == pattern(9, 2 * SECTOR)
