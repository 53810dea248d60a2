"""The page cache (fs/pagecache.c) through kernel calls, judged from outside:
QEMU's own count of the disk's read requests (QMP query-blockstats), the
cached frames' bytes read from guest RAM against the file the host wrote,
the frame table and the PMM's counters."""

import pytest

from harness.targets.mmverify.fsimage import ustar_disk
from tests.fs.files import FILES, PAGE, READAHEAD, cache_get, disk_reads

pytestmark = pytest.mark.machine(disks=[ustar_disk(FILES)])

FRAME_PAGECACHE = 0x08


def test_miss_reads_the_page_and_the_next_three_then_they_hit(machine, kernel):
    before, stats = disk_reads(machine), kernel.pagecache_stats()
    pfn, err = cache_get(machine, "/data/big", 0)
    assert (err, disk_reads(machine) - before) == (0, 1 + READAHEAD)
    for page in range(1 + READAHEAD):  # each page read straight into its own frame
        frame = next(e["pfn"] for e in kernel.page_cache() if e["index"] == page)
        assert machine.read_phys(frame << 12, PAGE) == \
            FILES["/data/big"][page * PAGE:(page + 1) * PAGE]
    reads = disk_reads(machine)
    again = [cache_get(machine, "/data/big", page) for page in range(1 + READAHEAD)]
    assert again[0] == (pfn, 0) and all(e == 0 for _, e in again)
    assert disk_reads(machine) == reads, "cached pages cost no disk read"
    now = kernel.pagecache_stats()
    assert (now["pages"] - stats["pages"], now["misses"] - stats["misses"],
            now["readahead"] - stats["readahead"], now["hits"] - stats["hits"]) == \
        (1 + READAHEAD, 1, READAHEAD, 1 + READAHEAD)


def test_the_cache_holds_one_reference_and_marks_its_frames(machine, kernel):
    pfn, _ = cache_get(machine, "/hello.txt", 0)
    info = kernel.frame_table()[pfn]
    assert (info.refs, info.flags & FRAME_PAGECACHE) == (1, FRAME_PAGECACHE)
    ino = next(f["ino"] for f in kernel.fs_files() if f["path"] == "hello.txt")
    assert [(e["ino"], e["index"], e["pfn"]) for e in kernel.page_cache()] == [(ino, 0, pfn)]


def test_the_last_page_ends_in_zeros(machine):
    """The tail of a file's last page reads as zeros, whatever lies on the
    disk after the file (here the next header)."""
    pfn, _ = cache_get(machine, "/data/big", 5)
    tail = FILES["/data/big"][5 * PAGE:]
    assert machine.read_phys(pfn << 12, PAGE) == tail + bytes(PAGE - len(tail))
    pfn, _ = cache_get(machine, "/hello.txt", 0)
    assert machine.read_phys(pfn << 12, PAGE) == FILES["/hello.txt"].ljust(PAGE, b"\0")


def test_readahead_stops_at_the_end_of_the_file(machine, kernel):
    before = disk_reads(machine)
    cache_get(machine, "/data/exact", 1)  # the last page: nothing after it to read
    assert disk_reads(machine) - before == 1
    assert [e["index"] for e in kernel.page_cache()] == [1]


def test_a_page_past_the_end_is_refused_without_a_read(machine, kernel):
    before = disk_reads(machine)
    assert cache_get(machine, "/data/exact", 2) == (0, -22)  # EINVAL
    assert disk_reads(machine) == before and kernel.page_cache() == []


def test_reclaim_gives_frames_back_and_a_later_read_goes_to_the_disk(machine, kernel):
    cache_get(machine, "/data/big", 0)
    cached = [e["pfn"] for e in kernel.page_cache()]
    free = kernel.pmm_stats()["free_frames"]
    assert machine.call_value("pagecache_reclaim", 100) == len(cached) == 1 + READAHEAD
    assert kernel.pmm_stats()["free_frames"] == free + len(cached)
    table = kernel.frame_table()
    assert all((table[p].refs, table[p].flags) == (0, 0) for p in cached)
    assert kernel.page_cache() == [] and kernel.pagecache_stats()["pages"] == 0
    before = disk_reads(machine)
    pfn, err = cache_get(machine, "/data/big", 0)
    assert err == 0 and disk_reads(machine) - before == 1 + READAHEAD
    assert machine.read_phys(pfn << 12, PAGE) == FILES["/data/big"][:PAGE]


def test_reclaim_takes_the_least_recently_used_first(machine, kernel):
    cache_get(machine, "/data/exact", 1)     # oldest
    cache_get(machine, "/hello.txt", 0)
    exact = kernel.page_cache()[-1]["pfn"]
    cache_get(machine, "/data/exact", 1)     # used again: now the newest
    assert machine.call_value("pagecache_reclaim", 1) == 1
    left = kernel.page_cache()
    assert [(e["index"], e["pfn"]) for e in left] == [(1, exact)]
    assert kernel.pagecache_stats()["evictions"] >= 1


def test_reclaim_leaves_pages_someone_else_holds(machine, kernel):
    """A page with a second reference (a mapping would hold one) stays, the
    others go; once that reference is dropped it can go too."""
    cache_get(machine, "/data/big", 0)
    held = next(e["pfn"] for e in kernel.page_cache() if e["index"] == 2)
    assert machine.call_value("frame_ref", held) == 0
    assert machine.call_value("pagecache_reclaim", 100) == READAHEAD
    assert [(e["index"], e["pfn"]) for e in kernel.page_cache()] == [(2, held)]
    assert kernel.frame_table()[held].refs == 2
    assert machine.call_value("frame_unref", held) == 0
    assert machine.call_value("pagecache_reclaim", 100) == 1 and kernel.page_cache() == []
    assert kernel.frame_table()[held].refs == 0


def test_a_recycled_frame_shows_nothing_of_its_past(machine, kernel):
    """A frame that held another file's page, given back and taken again
    for hello.txt: past the file's 12 bytes the page is zeros, not what the
    frame held (the PMM hands out the lowest free frame: one just freed)."""
    cache_get(machine, "/data/big", 0)
    freed = {e["pfn"] for e in kernel.page_cache()}
    assert machine.call_value("pagecache_reclaim", 100) == len(freed)
    pfn, err = cache_get(machine, "/hello.txt", 0)
    assert err == 0 and pfn in freed, "the premise: the new page lives in a recycled frame"
    assert machine.read_phys(pfn << 12, PAGE) == FILES["/hello.txt"].ljust(PAGE, b"\0")


def test_readahead_skips_pages_already_cached(machine, kernel):
    cache_get(machine, "/data/big", 2)         # pages 2..5
    before = disk_reads(machine)
    cache_get(machine, "/data/big", 0)         # page 0, and 1 read ahead; 2 and 3 are there
    assert disk_reads(machine) - before == 2
    assert sorted(e["index"] for e in kernel.page_cache()) == list(range(6))


RECLAIM_RESERVE = 64  # mm/reclaim.h


def eat_frames_down_to(machine, kernel, free: int) -> list[tuple[int, int]]:
    """Allocates kernel pages (allocate_pages, in halving runs) until exactly
    ``free`` frames are free: the (address, count) runs, to give back."""
    runs = []
    want = kernel.pmm_stats()["free_frames"] - free
    n = want
    while want > 0 and n > 0:
        n = min(n, want)
        address = machine.call_value("allocate_pages", n)
        if address:
            runs.append((address, n))
            want -= n
        else:
            n //= 2
    assert kernel.pmm_stats()["free_frames"] == free
    return runs


def test_readahead_leaves_the_reserve_alone(machine, kernel):
    """With RECLAIM_RESERVE + 1 frames free, a miss takes one frame for the
    page asked for, which leaves the reserve: readahead stops there (one
    disk read, no page read ahead) instead of eating frames kept for the
    allocations that must not fail."""
    runs = eat_frames_down_to(machine, kernel, RECLAIM_RESERVE + 1)
    before, stats = disk_reads(machine), kernel.pagecache_stats()
    pfn, err = cache_get(machine, "/data/big", 0)
    assert pfn and err == 0
    assert disk_reads(machine) - before == 1
    assert kernel.pagecache_stats()["readahead"] == stats["readahead"]
    assert [e["index"] for e in kernel.page_cache()] == [0]
    for address, n in runs:
        machine.call("free_pages", address, n)
