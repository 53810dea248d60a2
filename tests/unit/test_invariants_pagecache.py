"""The invariant checker's page-cache rules on synthetic page tables (no
QEMU; tests/unit/test_invariants.py's World): a cached frame that processes
map read-only is fine however many map it, shared or private; written,
freed, or in two entries it is reported, naming the entry."""

import struct
from dataclasses import replace

import pytest

from harness.decode.frames import FRAME_PAGECACHE, FrameTable
from harness.decode.paging import PRESENT, USER, WRITE
from harness.targets.mmverify.invariants import OWNED, check
from tests.unit.test_invariants import World

FILE_VA = 0x40000000
PROT_READ, PROT_WRITE, MAP_SHARED, MAP_PRIVATE = 1, 2, 0x01, 0x02


@pytest.fixture
def world():
    """Two processes mapping one cached file page at FILE_VA: pid 1 shared,
    pid 2 private (read-only, as the kernel maps both)."""
    w = World()
    w.cached = w.alloc()
    for pid, flags in ((1, MAP_SHARED), (2, MAP_PRIVATE)):
        p = w.process(pid)
        w.map(p.cr3, FILE_VA, w.cached | PRESENT | USER | OWNED)
        w.spaces[-1] = replace(p, pages=p.pages + 1,
                               mmap=((FILE_VA, FILE_VA + 0x1000, PROT_READ, flags),))
    return w


def run(world, entries):
    return check(world, replace(world.state(), pagecache=tuple(entries)))


def test_a_cached_frame_mapped_read_only_by_two_processes_is_fine(world):
    assert run(world, [(1, 0, world.cached)]) == []


def test_without_the_cache_entry_the_same_frame_is_unexplained_sharing(world):
    """The rule it replaces: a frame one process maps shared and another
    private is not shared memory."""
    assert run(world, []) == [f"frame {world.cached:#x} is mapped by pid 1 (prog1) va "
                              f"0x40000000, pid 2 (prog2) va 0x40000000, and not as shared "
                              "memory"]


def test_a_cached_frame_mapped_writable(world):
    p = world.spaces[1]
    world.spaces[1] = replace(p, mmap=((FILE_VA, FILE_VA + 0x1000, PROT_READ | PROT_WRITE,
                                        MAP_PRIVATE),))
    world.map(p.cr3, FILE_VA, world.cached | PRESENT | USER | WRITE | OWNED)
    entry = world.cached | PRESENT | USER | WRITE | OWNED
    assert run(world, [(1, 0, world.cached)]) == [
        f"pid 2 (prog2) va 0x40000000 PTE {entry:#010x}: writable, on page-cache frame "
        f"{world.cached:#x} (page cache ino 1 page 0): a write would change the file's page",
        f"frame {world.cached:#x} is mapped by pid 1 (prog1) va 0x40000000, pid 2 (prog2) va "
        "0x40000000, and not as shared memory"]


def test_a_cached_frame_free_in_the_pmm(world):
    world.used.discard(world.cached >> 12)
    problems = run(world, [(1, 0, world.cached)])
    assert f"page cache ino 1 page 0: frame {world.cached:#x} is free in the PMM's bitmap" \
        in problems


def test_a_frame_in_two_entries(world):
    assert run(world, [(1, 0, world.cached), (2, 5, world.cached)]) == [
        f"frame {world.cached:#x} is in 2 page-cache entries"]


def test_a_cached_frame_that_is_a_page_table(world):
    table = world.u32(world.spaces[0].cr3) & ~0xFFF  # pid 1's first page table
    assert run(world, [(1, 0, world.cached), (3, 0, table)]) == [
        f"page cache ino 3 page 0: frame {table:#x} is pid 1 (prog1)'s page table 0"]


def frame_table(entries: dict[int, tuple[int, int]], frames: int = 4096) -> FrameTable:
    """A frame table with (refs, flags) for the given frame numbers, zeros elsewhere."""
    data = bytearray(frames * 4)
    for pfn, (refs, flags) in entries.items():
        struct.pack_into("<HBB", data, pfn * 4, refs, flags, 0)
    return FrameTable(bytes(data))


def test_the_flag_and_the_cache_agree(world):
    """FRAME_PAGECACHE on exactly the cached frames: one without it and a
    flagged frame the cache does not hold are both reported (among the
    refs the bare table gets wrong, which the audit's own tests cover)."""
    stray = world.alloc()
    table = frame_table({world.cached >> 12: (3, 0), stray >> 12: (1, FRAME_PAGECACHE)})
    problems = check(world, replace(world.state(), pagecache=((1, 0, world.cached),),
                                    frames=table))
    assert (f"frame {stray:#x}: FRAME_PAGECACHE (refs=1 flags=pagecache node=0), but in no "
            "page-cache entry") in problems
    assert (f"page cache ino 1 page 0: frame {world.cached:#x} lacks FRAME_PAGECACHE "
            "(refs=3 flags=- node=0)") in problems
    good = frame_table({world.cached >> 12: (3, FRAME_PAGECACHE)})
    problems = check(world, replace(world.state(), pagecache=((1, 0, world.cached),),
                                    frames=good))
    assert not [p for p in problems if "PAGECACHE" in p]
