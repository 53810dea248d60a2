"""A disk that fails reads of a file's data (blkdebug media errors, QEMU's
own): the page asked for reports the disk's error with one PAGECACHE record
and is not cached; a readahead page that fails ends the readahead (recorded
too) and the page asked for is there."""

import pytest

from harness.machine.disks import DiskError
from harness.targets.mmverify.fsimage import ustar_disk
from tests.fs.files import FILES, PAGE, cache_get

# /data/big's data starts at byte 1536 (hello.txt's header and data block, then its
# header).  Its page 0 shares the disk's first 4 KiB block with the headers, which
# the mount reads: the failing sectors are in pages 1 and 3, blocks of data alone.
BIG_SECTOR = 1536 // 512


def failing(page: int) -> list:
    spec = ustar_disk(FILES)
    return [type(spec)(spec.name, spec.size, spec.image,
                       (DiskError("read", sector=BIG_SECTOR + page * PAGE // 512),))]


@pytest.mark.machine(disks=failing(1))
def test_a_failed_read_is_an_error_and_caches_nothing(machine, kernel):
    ino = next(f["ino"] for f in kernel.fs_files() if f["path"] == "data/big")
    assert next(f["data_offset"] for f in kernel.fs_files() if f["ino"] == ino) == 1536
    assert cache_get(machine, "/data/big", 1) == (0, -5)  # EIO
    assert [r.fields for r in machine.records("PAGECACHE")] == [
        {"error": "io", "ino": str(ino), "page": "1", "err": "-5"}]
    assert kernel.page_cache() == [] and kernel.pagecache_stats()["read_errors"] == 1
    pfn, err = cache_get(machine, "/data/big", 2)  # the rest of the file still reads
    assert err == 0 and machine.read_phys(pfn << 12, PAGE) == FILES["/data/big"][2 * PAGE:3 * PAGE]


@pytest.mark.machine(disks=failing(3))
def test_a_failed_readahead_stops_it_quietly(machine, kernel):
    pfn, err = cache_get(machine, "/data/big", 1)
    assert err == 0 and machine.read_phys(pfn << 12, PAGE) == FILES["/data/big"][PAGE:2 * PAGE]
    assert sorted(e["index"] for e in kernel.page_cache()) == [1, 2]
    assert [r["page"] for r in machine.records("PAGECACHE")] == ["3"]
    assert cache_get(machine, "/data/big", 3) == (0, -5)


# -- through system calls: read() and a file mapping --------------------------------


def programs_with_error(page: int) -> list:
    """The programs disk (tests/fs/conftest.py: FILES first, so /data/big's
    data lies where it does in FILES' own archive), its reads of /data/big's
    page ``page`` failing."""
    from tests.fs.conftest import PROGRAMS_DISK

    spec = PROGRAMS_DISK
    return [type(spec)(spec.name, spec.size, spec.image,
                       (DiskError("read", sector=BIG_SECTOR + page * PAGE // 512),))]


@pytest.mark.machine(disks=programs_with_error(1), cmdline="aslr=off")
def test_read_returns_what_it_could_then_the_error(machine, userland):
    """catfile's first read() gets page 0 (its readahead of page 1 fails), its
    second the disk's EIO (a read() that copied nothing reports the error);
    the second pass the same: page 1 is tried again each time, never cached."""
    pid = userland.spawn("/bin/catfile", "/data/big")
    assert userland.run()[pid].status == 0
    [claim] = [c for c in userland.claims("USER", pid=pid) if "read" in c.fields]
    assert (claim.int("read"), claim.int("reread")) == (-5, -5)
    assert [r["page"] for r in machine.records("PAGECACHE", since=userland.start)] == ["1"] * 3


@pytest.mark.machine(disks=programs_with_error(1), cmdline="aslr=off")
def test_a_mapped_page_the_disk_cannot_read_kills_file_io(machine, userland):
    pid = userland.spawn("/bin/fmap", "/data/big shared")
    result = userland.run()[pid]
    addr = next(int(c["addr"], 16) for c in userland.claims("USER", pid=pid) if "addr" in c.fields)
    assert (result.killed, result.reason, result.addr) == (True, "file-io", addr + PAGE)
