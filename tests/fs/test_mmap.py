"""mmap of a file (fmap), judged from outside: the PTEs against the page
cache's table, the frames' bytes against the file the host wrote, the disk
image read back on the host, the kernel's EXIT and PF records."""

import pytest

from tests.fs.conftest import PROGRAMS_DISK
from tests.fs.files import FILES, PAGE, Checkpoints, fnv

pytestmark = pytest.mark.machine(disks=[PROGRAMS_DISK], cmdline="aslr=off fault_log=all")

EACCES = 13


def cached_frames(kernel, path: str) -> dict[int, int]:
    ino = next(f["ino"] for f in kernel.fs_files() if "/" + f["path"] == path)
    return {e["index"]: e["pfn"] << 12 for e in kernel.page_cache() if e["ino"] == ino}


def mapped_at(userland, pid: int) -> int:
    return next(int(c["addr"], 16) for c in userland.claims("USER", pid=pid) if "addr" in c.fields)


def test_private_write_copies_the_page_and_leaves_the_file(machine, userland, kernel):
    big = FILES["/data/big"]
    pid = userland.spawn("/bin/fmap", "/data/big private")
    stops = Checkpoints(machine, userland)
    stops.stop("fmap", 1)
    addr, cached = mapped_at(userland, pid), cached_frames(kernel, "/data/big")
    space = userland.address_space(pid)
    for index, pa in cached.items():  # every page: the cache's frame, read-only + COW, NX
        t = space.translate(addr + index * PAGE)
        assert (t.pa, t.write, t.execute, t.pte.cow, t.pte.owned) == (pa, False, False, True, True)
    faults = machine.records("PF", since=userland.start)
    assert [f["reason"] for f in faults if f["reason"] == "file-page"] == ["file-page"] * 6
    stops.stop("fmap", 2)             # it wrote "X" over byte 0 of page 0
    t = userland.address_space(pid).translate(addr)
    assert t.pa != cached[0] and t.write and not t.pte.cow
    assert machine.read_phys(t.pa, PAGE) == b"X" + big[1:PAGE]
    assert machine.read_phys(cached[0], PAGE) == big[:PAGE], "the cached page is the file's"
    assert cached_frames(kernel, "/data/big") == cached
    faults = machine.records("PF", since=userland.start)
    assert [f["reason"] for f in faults if f["reason"] == "cow"] == ["cow"]
    stops.finish()
    [claim] = [c for c in userland.claims("USER", pid=pid) if "fnv" in c.fields]
    assert (int(claim["fnv"], 16), claim["first"]) == (fnv(big + bytes(6 * PAGE - len(big))), "X")
    # the disk holds the file as the host wrote it
    offset = next(f["data_offset"] for f in kernel.fs_files() if f["path"] == "data/big")
    assert machine.read_disk("hdb", offset, len(big)) == big


def test_a_page_past_the_end_of_the_file_kills(machine, userland):
    """/data/exact is 2 pages; the mapping is 3: page 2 has no file behind it."""
    pid = userland.spawn("/bin/fmap", "/data/exact past 3")
    result = userland.run()[pid]
    addr = mapped_at(userland, pid)
    assert (result.killed, result.reason, result.addr) == (True, "file-io", addr + 2 * PAGE)
    [pf] = [r for r in machine.records("PF", since=userland.start) if r["action"] == "kill"]
    assert (pf["reason"], int(pf["addr"], 16)) == ("file-io", addr + 2 * PAGE)


def test_a_shared_writable_mapping_is_refused(machine, userland):
    pid = userland.spawn("/bin/fmap", "/hello.txt sharedw")
    assert userland.run()[pid].status == 0
    [claim] = userland.claims("USER", pid=pid)
    assert claim.int("mmap") == -EACCES
    [refused] = machine.records("MMAP", since=userland.start)
    assert refused["error"] == "read-only-file"


def test_shared_mapping_is_read_only_and_exit_gives_back_its_references(machine, userland,
                                                                         kernel):
    pid = userland.spawn("/bin/fmap", "/hello.txt shared")
    stops = Checkpoints(machine, userland)
    stops.stop("fmap", 1)
    [(index, pa)] = cached_frames(kernel, "/hello.txt").items()
    t = userland.address_space(pid).translate(mapped_at(userland, pid))
    assert (index, t.pa, t.write, t.pte.cow, t.pte.owned) == (0, pa, False, False, True)
    assert machine.read_phys(pa, PAGE) == FILES["/hello.txt"].ljust(PAGE, b"\0")
    assert kernel.frame_table()[pa >> 12].refs == 2
    stops.finish()
    assert userland.history()[pid].status == 0
    assert kernel.frame_table()[pa >> 12].refs == 1


@pytest.mark.parametrize("mode", ["shared", "private"])
def test_fork_shares_the_file_mapping(machine, userland, kernel, mode):
    parent = userland.spawn("/bin/fmap", f"/data/big {mode} 6 fork")
    stops = Checkpoints(machine, userland)
    child = stops.stop("fmap", 3)
    assert child != parent
    addr, cached = mapped_at(userland, parent), cached_frames(kernel, "/data/big")
    table = kernel.frame_table()
    for index, pa in cached.items():
        for pid in (parent, child):
            t = userland.address_space(pid).translate(addr + index * PAGE)
            assert (t.pa, t.write, t.pte.cow) == (pa, False, mode == "private")
        assert table[pa >> 12].refs == 3  # the cache, the parent, the child
    stops.finish()
    assert userland.history()[parent].status == 0
    table = kernel.frame_table()
    assert all(table[pa >> 12].refs == 1 for pa in cached.values())


@pytest.mark.parametrize(("mode", "first"), [("offset", 2), ("split", 1)])
def test_each_page_maps_its_own_file_page(machine, userland, kernel, mode, first):
    """A mapping from an offset, and one split in three regions by munmap and
    mprotect before any touch: page i of what is mapped is file page
    first + i, in the PTE (the cache's frame for that page) and in the bytes
    the program read."""
    big = FILES["/data/big"]
    pid = userland.spawn("/bin/fmap", f"/data/big {mode}")
    stops = Checkpoints(machine, userland)
    stops.stop("fmap", 1)
    addr, cached = mapped_at(userland, pid), cached_frames(kernel, "/data/big")
    space = userland.address_space(pid)
    for i in range(6 - first):
        assert space.translate(addr + i * PAGE).pa == cached[first + i]
    stops.finish()
    [claim] = [c for c in userland.claims("USER", pid=pid) if "fnv" in c.fields]
    rest = big[first * PAGE:]
    assert int(claim["fnv"], 16) == fnv(rest.ljust((6 - first) * PAGE, b"\0"))


def test_the_same_file_page_mapped_twice_side_by_side(machine, userland, kernel):
    """Page 0 of the file mapped, then mapped again (MAP_FIXED) right after:
    two regions of one file that touch but do not follow on in the file must
    stay two, both pages showing file page 0."""
    big = FILES["/data/big"]
    pid = userland.spawn("/bin/fmap", "/data/big twice")
    stops = Checkpoints(machine, userland)
    stops.stop("fmap", 1)
    addr, cached = mapped_at(userland, pid), cached_frames(kernel, "/data/big")
    space = userland.address_space(pid)
    assert [space.translate(addr + i * PAGE).pa for i in range(2)] == [cached[0]] * 2
    regions = next(p["regions"] for p in kernel.process_table() if p["pid"] == pid)
    assert [(r[0], r[1]) for r in regions] == [(addr, addr + PAGE), (addr + PAGE, addr + 2 * PAGE)]
    stops.finish()
    [claim] = [c for c in userland.claims("USER", pid=pid) if "fnv" in c.fields]
    assert int(claim["fnv"], 16) == fnv(big[:PAGE] * 2)
