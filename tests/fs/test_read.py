"""open/read/lseek/stat/fstat/close of files by user programs (catfile),
judged from outside: sizes against the archive the host wrote, what was read
by its hash, QEMU's count of the disk's read requests between the first read
of a file and the second, and the page cache's table against the pages
processes map."""

import pytest

from tests.fs.conftest import PROGRAMS_DISK
from tests.fs.files import FILES, PAGE, Checkpoints, disk_reads, fnv

pytestmark = pytest.mark.machine(disks=[PROGRAMS_DISK], cmdline="aslr=off")

S_IFREG = 0x8000
EBADF, EROFS, ENOENT = 9, 30, 2


def test_catfile_reads_every_file_as_the_host_wrote_it(machine, userland, kernel):
    pid = userland.spawn("/bin/catfile", " ".join(FILES) + " /nothing")
    assert userland.run()[pid].status == 0
    inos = {"/" + f["path"]: f["ino"] for f in kernel.fs_files()}
    claims: dict[str, dict[str, str]] = {}  # catfile prints two lines a file
    for c in userland.claims("USER", pid=pid):
        claims.setdefault(c["path"], {}).update(c.fields)
    for path, data in FILES.items():
        c = {k: int(v, 16) if k in ("mode", "fnv", "refnv") else int(v)
             for k, v in claims[path].items() if k not in ("prog", "path")}
        assert (c["stat"], c["size"], c["fstat"], c["fstat_size"]) == (0, len(data), 0, len(data))
        assert (c["mode"], c["ino"], c["blocks"]) == \
            (S_IFREG | 0o644, inos[path], (len(data) + 511) // 512)
        assert (c["read"], c["fnv"]) == (len(data), fnv(data))
        assert (c["lseek"], c["reread"], c["refnv"]) == (0, len(data), fnv(data))
        assert (c["write"], c["open_rdwr"], c["close"]) == (-EBADF, -EROFS, 0)
    assert (claims["/nothing"]["stat"], claims["/nothing"]["open"]) == \
        (str(-ENOENT), str(-ENOENT))


def test_a_second_read_costs_no_disk_read(machine, userland, kernel):
    userland.spawn("/bin/catfile", "/data/big")
    stops = Checkpoints(machine, userland)
    stops.stop("catfile", 1)          # the first pass read all 6 pages
    reads, stats = disk_reads(machine), kernel.pagecache_stats()
    stops.stop("catfile", 2)          # the second pass
    assert disk_reads(machine) == reads, "the second read came from the page cache"
    now = kernel.pagecache_stats()
    assert (now["misses"], now["hits"] - stats["hits"]) == (stats["misses"], 6)
    stops.finish()


def test_two_mappings_and_read_share_the_cached_frames(machine, userland, kernel):
    """Two processes map /data/big shared: each page's PTE in both names the
    frame the page cache holds for it, with the file's bytes in it; read()
    of the same file then hits those pages only."""
    userland.spawn("/bin/catfile")  # reads nothing: its own image is in the cache after
    first = userland.spawn("/bin/fmap", "/data/big shared")
    second = userland.spawn("/bin/fmap", "/data/big shared")
    stops = Checkpoints(machine, userland)
    # the one stopped first yields after its checkpoint: both mappings are
    # there when the other stops
    assert {stops.stop("fmap", 1), stops.stop("fmap", 1)} == {first, second}
    ino = next(f["ino"] for f in kernel.fs_files() if f["path"] == "data/big")
    cached = {e["index"]: e["pfn"] << 12 for e in kernel.page_cache() if e["ino"] == ino}
    assert sorted(cached) == list(range(6))
    addrs = {c.int("pid"): int(c["addr"], 16) for c in userland.claims("USER")
             if "addr" in c.fields}
    table = kernel.frame_table()
    for index, pa in cached.items():
        for pid in (first, second):
            t = userland.address_space(pid).translate(addrs[pid] + index * PAGE)
            assert t.pa == pa and not t.write and t.pte.owned and not t.pte.cow
        chunk = FILES["/data/big"][index * PAGE:(index + 1) * PAGE]
        assert machine.read_phys(pa, PAGE) == chunk.ljust(PAGE, b"\0")
        assert table[pa >> 12].refs == 3  # the cache and two mappings
    stops.finish()
    table = kernel.frame_table()   # both ended: the cache's reference is left
    assert all(table[pa >> 12].refs == 1 for pa in cached.values())
    reads, misses = disk_reads(machine), kernel.pagecache_stats()["misses"]
    reader = userland.spawn("/bin/catfile", "/data/big")
    assert userland.run()[reader].status == 0
    assert (disk_reads(machine), kernel.pagecache_stats()["misses"]) == (reads, misses)
    assert {e["index"]: e["pfn"] << 12 for e in kernel.page_cache() if e["ino"] == ino} == cached
