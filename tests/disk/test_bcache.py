"""The buffer cache, judged from outside: QEMU's own request counters
(query-blockstats), the image on the host, and the PMM's free frames.

Kernel calls drive it (bcache_get/put, bcache_sync, bcache_reclaim);
struct fields come from the debug info through the kernel fixture."""

import pytest

from harness.machine.disks import DiskError, DiskSpec, raw_image
from tests.disk.diskio import MODULES, pattern, run_diskio
from tests.disk.test_ata import device

BLOCK = 4096
EIO = 5
IMAGE = raw_image({0: b"".join(bytes([i]) * BLOCK for i in range(1, 33))}, "4M")
HDA = DiskSpec("hda", size="4M", image=IMAGE)
BUF_VALID, BUF_DIRTY = 0x1, 0x2


def get(machine, block: int, *, read: bool = True) -> int:
    """bcache_get (or _noread) of hda's block: the struct buf address."""
    err = machine.call_value("kmalloc", 4)
    machine.write_u32(err, 0)
    fn = "bcache_get" if read else "bcache_get_noread"
    b = machine.call_value(fn, device(machine, "hda"), block, err)
    code = machine.read_u32(err)
    machine.call("kfree", err)
    assert b != 0, f"{fn}(hda, {block}) failed: {code - (1 << 32)}"
    return b


def blk_stats(machine, kernel) -> dict:
    """hda's struct blk_stats (a nested struct: read by its own layout)."""
    return dict(kernel.read_struct("blk_stats",
                                   int(machine.evaluate("(unsigned)&blk_devices[0].stats"))))


def stats(kernel) -> dict:
    return dict(kernel.read_struct("bcache_stats", "bcache_stats"))


def buf(kernel, address: int) -> dict:
    return dict(kernel.read_struct("buf", address))


def cached_buffers(machine, kernel) -> dict[int, dict]:
    """Every buffer on the hash chains, by address."""
    size = int(machine.evaluate("sizeof(bcache_hash) / sizeof(bcache_hash[0])"))
    found = {}
    for head in struct_u32s(machine, machine.symbol("bcache_hash"), size):
        while head and head not in found:
            found[head] = buf(kernel, head)
            head = found[head]["hash_next"]
    return found


def held_buffers(machine, kernel) -> list[dict]:
    """Every cached buffer someone still holds (refs > 0)."""
    return [b for b in cached_buffers(machine, kernel).values() if b["refs"]]


def struct_u32s(machine, addr: int, count: int) -> list[int]:
    data = machine.read(addr, 4 * count)
    return [int.from_bytes(data[i:i + 4], "little") for i in range(0, len(data), 4)]


def data_of(machine, kernel, address: int) -> bytes:
    return machine.read(buf(kernel, address)["data"], BLOCK)


@pytest.mark.machine(disks=[HDA])
def test_second_get_is_a_hit_without_a_device_read(machine, kernel):
    """The first get reads the block (one more rd_operation of 4 KiB in QEMU);
    after put, the second is a hit: QEMU sees no request."""
    before = machine.blockstats()["hda"]
    first = get(machine, 3)
    after_first = machine.blockstats()["hda"]
    assert after_first["rd_operations"] == before["rd_operations"] + 1
    assert after_first["rd_bytes"] == before["rd_bytes"] + BLOCK
    assert data_of(machine, kernel, first) == bytes([4]) * BLOCK
    machine.call("bcache_put", first)
    hits = stats(kernel)["hits"]
    assert get(machine, 3) == first
    assert machine.blockstats()["hda"] == after_first
    assert stats(kernel)["hits"] == hits + 1


@pytest.mark.machine(disks=[HDA])
def test_blockstats_match_the_guests_counts(machine, kernel):
    """Every request the block layer counts is one QEMU counts (DMA: one ATA
    command per request up to 256 sectors), bytes for sectors."""
    guest0 = blk_stats(machine, kernel)
    qemu0 = machine.blockstats()["hda"]
    for block in (5, 6, 7):
        machine.call("bcache_put", get(machine, block))
    b = get(machine, 9, read=False)
    machine.call("bcache_mark_dirty", b)
    machine.call("bcache_put", b)
    assert machine.call_value("bcache_sync", 0) == 0
    guest = blk_stats(machine, kernel)
    qemu = machine.blockstats()["hda"]
    assert guest["reads"] - guest0["reads"] == qemu["rd_operations"] - qemu0["rd_operations"] == 3
    assert guest["writes"] - guest0["writes"] == qemu["wr_operations"] - qemu0["wr_operations"] == 1
    assert (guest["sectors_read"] - guest0["sectors_read"]) * 512 == \
        qemu["rd_bytes"] - qemu0["rd_bytes"]
    assert (guest["sectors_written"] - guest0["sectors_written"]) * 512 == \
        qemu["wr_bytes"] - qemu0["wr_bytes"] == BLOCK
    assert guest["flushes"] - guest0["flushes"] == \
        qemu["flush_operations"] - qemu0["flush_operations"] == 1


@pytest.mark.machine(disks=[HDA])
def test_reclaim_gives_back_clean_buffers_only(machine, kernel):
    """Four clean buffers and one dirty one, none held: bcache_reclaim frees
    the four (their frames are free in the PMM again), never the dirty one."""
    for block in (10, 11, 12, 13):
        machine.call("bcache_put", get(machine, block))
    dirty = get(machine, 14)
    machine.call("bcache_mark_dirty", dirty)
    machine.call("bcache_put", dirty)
    s0 = stats(kernel)
    frames = []
    for blk in (10, 11, 12, 13):
        b = get(machine, blk)
        frames.append(buf(kernel, b)["pfn"])
        machine.call("bcache_put", b)
    free0 = kernel.pmm_stats()["free_frames"]
    freed = machine.call_value("bcache_reclaim", 1000)
    assert freed == s0["buffers"] - 1  # all but the dirty one
    s = stats(kernel)
    assert (s["buffers"], s["dirty"], s["reclaimed"]) == (1, 1, s0["reclaimed"] + freed)
    assert kernel.pmm_stats()["free_frames"] == free0 + freed
    assert all(not machine.call_value("pmm_pfn_used", pfn) for pfn in frames)
    assert buf(kernel, dirty)["flags"] & BUF_DIRTY
    assert list(cached_buffers(machine, kernel)) == [dirty]  # the freed ones left the hash
    # Gone from the hash too: the next get of a reclaimed block reads the disk again.
    reads = machine.blockstats()["hda"]["rd_operations"]
    again = get(machine, 11)
    assert machine.blockstats()["hda"]["rd_operations"] == reads + 1
    assert data_of(machine, kernel, again) == bytes([12]) * BLOCK
    assert machine.call_value("pmm_pfn_used", buf(kernel, again)["pfn"])


@pytest.mark.machine(disks=[DiskSpec("hda", size="4M", errors=(DiskError("write", sector=8),))])
def test_failed_write_back_stays_dirty(machine, kernel):
    """Block 1 (sectors 8-15) cannot be written: sync gives -EIO with a media
    record, the buffer stays dirty and cached, the error is counted; block 2
    was written back."""
    mark = machine.mark()
    for block in (1, 2):
        b = get(machine, block, read=False)
        machine.write(buf(kernel, b)["data"], bytes([0x40 + block]) * BLOCK)
        machine.call("bcache_mark_dirty", b)
        machine.call("bcache_put", b)
    bad = get(machine, 1)
    machine.call("bcache_put", bad)
    assert machine.call_value("bcache_sync", 0) == -EIO
    assert buf(kernel, bad)["flags"] & BUF_DIRTY
    s = stats(kernel)
    assert (s["dirty"], s["write_errors"]) == (1, 1)
    assert [(r["error"], r["op"], r["lba"]) for r in machine.records("DISK", since=mark)] == [
        ("media", "write", "8")]
    assert machine.read_disk("hda", 2 * BLOCK, BLOCK) == bytes([0x42]) * BLOCK
    assert machine.read_disk("hda", BLOCK, BLOCK) == bytes(BLOCK)


@pytest.mark.machine(modules=MODULES, disks=[HDA])
def test_periodic_flush_writes_without_fsync(machine, kernel, userland):
    """A process writes and yields without fsync.  Within the flush period
    nothing reaches the disk; once the period has passed (the last flush's
    time moved back by the test) the scheduler's next pass writes it back:
    the host reads it from the image."""
    writes = machine.blockstats()["hda"]["wr_operations"]
    run = run_diskio(userland, "/dev/hda rw w:40960:100:6 y:20")
    assert run.rc("w") == [100]
    assert machine.blockstats()["hda"]["wr_operations"] == writes  # not yet: no time passed
    assert stats(kernel)["dirty"] == 1
    now = machine.call_value("rtc_seconds")
    machine.write_u32(machine.symbol("last_flush"), (now - 6) % 86400)
    run = run_diskio(userland, "/dev/hda ro y:1")
    assert stats(kernel)["dirty"] == 0
    assert machine.blockstats()["hda"]["wr_operations"] == writes + 1
    assert machine.read_disk("hda", 40960, 100) == pattern(40960, 100, 6)


@pytest.mark.machine(disks=[HDA])
def test_get_reads_a_cached_buffer_nobody_filled(machine, kernel):
    """A noread buffer its holder never filled (a caller that failed and
    kept it) is in the hash without BUF_VALID: a later bcache_get of that
    block must read it from the disk (one request QEMU sees) and give the
    block's bytes, not the frame's leftovers (here junk written by the
    test), and mark it valid."""
    kept = get(machine, 20, read=False)
    assert buf(kernel, kept)["flags"] & BUF_VALID == 0
    machine.write(buf(kernel, kept)["data"], b"\xee" * BLOCK)
    before = machine.blockstats()["hda"]
    assert get(machine, 20) == kept
    assert machine.blockstats()["hda"]["rd_operations"] == before["rd_operations"] + 1
    assert data_of(machine, kernel, kept) == bytes([21]) * BLOCK
    assert buf(kernel, kept)["flags"] == BUF_VALID and buf(kernel, kept)["refs"] == 2
    machine.call("bcache_put", kept)
    machine.call("bcache_put", kept)
    assert held_buffers(machine, kernel) == []


@pytest.mark.machine(disks=[HDA, DiskSpec("hdd", size="1M")])
def test_sync_flushes_only_disks_it_wrote(machine, kernel):
    """A dirty block of hda, bcache_sync(NULL): one write and one flush on
    hda, no flush on hdd (nothing was written there); a second sync with
    nothing dirty sends no flush at all."""
    before = machine.blockstats()
    b = get(machine, 15)
    machine.call("bcache_mark_dirty", b)
    machine.call("bcache_put", b)
    assert machine.call_value("bcache_sync", 0) == 0
    after = machine.blockstats()
    assert after["hda"]["wr_operations"] - before["hda"]["wr_operations"] == 1
    assert after["hda"]["flush_operations"] - before["hda"]["flush_operations"] == 1
    assert after["hdd"] == before["hdd"]
    assert machine.call_value("bcache_sync", 0) == 0
    assert machine.blockstats() == after
