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
