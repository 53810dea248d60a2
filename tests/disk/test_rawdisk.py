"""Raw disks through the buffer cache, from a user program (diskio): what
it writes and fsyncs is in the image, byte for byte, when the host reads it;
unaligned offsets read-modify-write their blocks; the descriptor's access
mode and the disk's end are enforced."""

import pytest

from harness.machine.disks import DiskSpec, raw_image
from harness.targets.mmverify.fsimage import ustar_disk
from tests.disk.diskio import MODULES, pattern, run_diskio
from tests.disk.test_bcache import held_buffers

EBADF, ENXIO, ENOSPC, EMFILE = 9, 6, 28, 24
OLD = bytes(range(256)) * 64           # 16 KiB the host put at the start of the disk
HDA = DiskSpec("hda", size="2M", image=raw_image({0: OLD}, "2M"))
DISK_BYTES = 2 << 20


@pytest.mark.machine(modules=MODULES, disks=[HDA])
def test_fsynced_writes_are_in_the_image(machine, kernel, userland):
    """Three writes at odd offsets (one inside a block, one across two blocks,
    one of whole blocks), fsync: the host sees exactly them, and the host's
    own bytes around them untouched."""
    writes = [(100, 50, 1), (4000, 300, 2), (8192, 8192, 3)]
    ops = " ".join(f"w:{o}:{n}:{s}" for o, n, s in writes)
    run = run_diskio(userland, f"/dev/hda rw {ops} f")
    assert (run.status, run.killed) == (0, False)
    assert run.rc("w") == [50, 300, 8192] and run.rc("f") == [0]
    expected = bytearray(OLD + bytes(DISK_BYTES - len(OLD)))[:20000]
    for offset, length, seed in writes:
        expected[offset:offset + length] = pattern(offset, length, seed)
    assert machine.read_disk("hda", 0, 20000) == bytes(expected)
    assert held_buffers(machine, kernel) == []  # every block the writes took was put back


@pytest.mark.machine(modules=MODULES, disks=[HDA])
def test_reads_back_through_the_cache(machine, userland):
    """Written, then read back in the same process without fsync: the cache
    serves the new bytes (no difference), and the old ones around them."""
    run = run_diskio(userland, "/dev/hda rw w:5000:3000:9 r:5000:3000:9 r:4999:1:9")
    assert run.rc("r") == [3000, 1]
    assert [r.int("bad") for r in run.ops if r["op"] == "r"] == [0, 1]  # byte 4999 is OLD's
    assert run.status == 1


@pytest.mark.machine(modules=MODULES, disks=[HDA])
def test_write_and_lseek_advance_the_offset(machine, userland):
    """write() at the descriptor's offset, lseek SEEK_SET/SEEK_END, then sync."""
    run = run_diskio(userland, "/dev/hda rw l:6000:0 W:1000:4 l:0:2 s")
    assert run.rc("l") == [6000, DISK_BYTES] and run.rc("W") == [1000] and run.rc("s") == [0]
    assert machine.read_disk("hda", 6000, 1000) == pattern(6000, 1000, 4)


@pytest.mark.machine(modules=MODULES, disks=[HDA])
def test_readonly_descriptor_refuses_writes(machine, userland):
    """O_RDONLY: pwrite is -EBADF and nothing reaches the disk; reads work."""
    writes = machine.blockstats()["hda"]["wr_operations"]
    run = run_diskio(userland, "/dev/hda ro w:0:10:1 s")
    assert run.rc("open") == [3]
    assert run.rc("w") == [-EBADF]
    assert machine.blockstats()["hda"]["wr_operations"] == writes
    assert machine.read_disk("hda", 0, 16) == OLD[:16]


@pytest.mark.machine(modules=MODULES, disks=[HDA])
def test_end_of_disk(machine, userland):
    """At the end a read gives 0 bytes and a write -ENOSPC; one that runs
    over the end is cut at it."""
    end = DISK_BYTES
    run = run_diskio(userland, f"/dev/hda rw r:{end}:10:0 w:{end}:10:0 w:{end - 6}:10:5 f")
    assert run.rc("r") == [0]
    assert run.rc("w") == [-ENOSPC, 6]
    assert machine.read_disk("hda", end - 6, 6) == pattern(end - 6, 6, 5)


@pytest.mark.machine(modules=MODULES, disks=[HDA])
def test_missing_disk_is_enxio(machine, userland):
    mark = machine.mark()
    run = run_diskio(userland, "/dev/hdc rw")
    assert run.rc("open") == [-ENXIO]
    assert [(r["error"], r["dev"], r["op"]) for r in machine.records("DISK", since=mark)] == [
        ("missing", "hdc", "open")]


@pytest.mark.machine(modules=MODULES, disks=[HDA])
def test_descriptor_table_limits(machine, userland):
    """Descriptors 3..15 (FD_MAX 16): the 14th open is -EMFILE; closing 15
    frees it for the next open; 16 and 2 are not descriptors close knows.
    A second process runs meanwhile, so the memory right after the first
    one's table (the next process's slot) is not all zeros."""
    first = userland.spawn("diskio", "/dev/hda ro o:12 o:1 C:16 C:15 o:1 C:2 C:3 C:3")
    second = userland.spawn("diskio", "/dev/hda ro y:3")
    results = userland.run()
    assert [(results[p].status, results[p].killed) for p in (first, second)] == [
        (0, False), (0, False)]
    ops = userland.claims("USER", pid=first)
    rc = {op: [r.int("rc") for r in ops if r["op"] == op] for op in ("open", "o", "C")}
    assert rc == {"open": [3], "o": [15, -EMFILE, 15], "C": [-EBADF, 0, -EBADF, 0, -EBADF]}


EFAULT = 14


@pytest.mark.machine(modules=MODULES, disks=[HDA])
def test_write_from_a_buffer_that_faults_part_way(machine, kernel, userland):
    """pwrite of 4096 bytes at 41984 (inside block 10, read first) whose
    second half is unmapped: the copy into block 10 faults after 2048 bytes.
    Nothing was wholly moved, so the call is -EFAULT, but the 2048 bytes it
    did put into the cached block are marked dirty and reach the disk at
    fsync: the cache and the disk agree.  Then 12288 bytes at 16384 whose
    last 6144 are unmapped: block 4 (wholly overwritten, not read) is moved,
    block 5's copy (a block not read, as it would be wholly overwritten)
    faults after 2048 bytes and is dropped: 4096 bytes written, block 5 on
    the disk keeps its old bytes (no half-filled buffer is written back)."""
    run = run_diskio(userland, "/dev/hda rw p:41984:4096:7 p:16384:12288:8 f")
    assert (run.status, run.killed) == (0, False)
    assert run.rc("p") == [-EFAULT, 4096] and run.rc("f") == [0]
    assert machine.read_disk("hda", 40960, 1024) == bytes(1024)
    assert machine.read_disk("hda", 41984, 2048) == pattern(41984, 2048, 7)
    assert machine.read_disk("hda", 44032, 1024) == bytes(1024)
    assert machine.read_disk("hda", 0, 16384) == OLD  # the host's bytes, not written
    assert machine.read_disk("hda", 16384, 4096) == pattern(16384, 4096, 8)
    assert machine.read_disk("hda", 20480, 4096) == bytes(4096)
    assert held_buffers(machine, kernel) == []


EBUSY, EROFS = 16, 30
FS_FILES = {"/hello.txt": b"hello from the file system\n"}


@pytest.mark.machine(modules=MODULES,
                     disks=[HDA, ustar_disk(FS_FILES, "hdb", "1M"), DiskSpec("hdc", size="8M")])
def test_the_swap_and_file_system_disks_are_guarded(machine, userland):
    """hdc is the swap disk (other processes' pages): no open at all,
    -EBUSY.  hdb holds the mounted file system, under the page cache: open
    for writing is -EROFS, read-only works and reads the archive.  hda, a
    plain raw disk, opens read-write as before.  Nothing is written to any."""
    assert [r["dev"] for r in machine.records("SWAP")] == ["hdc"]
    assert [r["dev"] for r in machine.records("FS")] == ["hdb"]
    writes = {name: s["wr_operations"] for name, s in machine.blockstats().items()}
    assert run_diskio(userland, "/dev/hdc ro").rc("open") == [-EBUSY]
    assert run_diskio(userland, "/dev/hdc rw").rc("open") == [-EBUSY]
    assert run_diskio(userland, "/dev/hdb rw w:0:10:1").rc("open") == [-EROFS]
    assert run_diskio(userland, "/dev/hdb wo").rc("open") == [-EROFS]
    run = run_diskio(userland, "/dev/hdb ro r:0:512:0")
    assert run.rc("open") == [3] and run.rc("r") == [512]
    assert run_diskio(userland, "/dev/hda rw").rc("open") == [3]
    assert {name: s["wr_operations"] for name, s in machine.blockstats().items()} == writes
    assert machine.read_disk("hdb", 512, len(FS_FILES["/hello.txt"])) == FS_FILES["/hello.txt"]


ODD = DiskSpec("hda", size="2049K")  # 2 MiB and two sectors: a partial last block


@pytest.mark.machine(modules=MODULES, disks=[ODD])
def test_a_partial_last_block_is_not_part_of_the_file(machine, userland):
    """A disk of 2 MiB + 1 KiB is a 2 MiB file (the buffer cache holds whole
    4 KiB blocks): SEEK_END is 2 MiB, a write up to it works, one at it is
    -ENOSPC like any end of disk (not -EINVAL from a block past the end)."""
    end = DISK_BYTES
    run = run_diskio(userland, f"/dev/hda rw l:0:2 w:{end - 8}:8:3 w:{end}:10:1 f")
    assert run.rc("l") == [end] and run.rc("w") == [8, -ENOSPC] and run.rc("f") == [0]
    assert machine.read_disk("hda", end - 8, 8) == pattern(end - 8, 8, 3)
    assert machine.read_disk("hda", end, 1024) == bytes(1024)
