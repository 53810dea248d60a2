"""The frame caches' rules (harness/decode/pcp.py) on hand-made caches: each
broken rule gives its one message, and a healthy cache none."""

import struct

from harness.decode.frames import FRAME_PCP, FrameTable
from harness.decode.pcp import SPIN_NO_CPU, CpuCache, cached_frames, check, lock_problems

FRAMES = 64
USED = 0b1111_0000  # frames 4-7 used
RESERVED = 0b0001_0000  # frame 4 reserved
STATS = {"allocs": 0, "frees": 2, "refills": 0, "refilled": 0, "drains": 0, "drained": 0}


def table(refs=None, flags=None):
    refs, flags = refs or {}, flags or {}
    return FrameTable(b"".join(struct.pack("<HBB", refs.get(f, 0), flags.get(f, 0), 0)
                               for f in range(FRAMES)))


def cache(cpu=0, frames=(5, 6), capacity=4, stats=None, asked=3, done=3, busy=0):
    """A cache of ``capacity`` slots; every drain asked of it answered and not
    busy, unless ``asked``/``done``/``busy`` say otherwise."""
    slots = tuple(frames) + (0,) * (capacity - len(frames))
    return CpuCache(cpu, len(frames), slots, stats or dict(STATS, frees=len(frames)),
                    asked, done, busy)


def problems(*caches, refs=None, flags=None):
    """The rules' verdict, with a frame table where every frame the caches
    hold has FRAME_PCP (as the kernel keeps it), unless ``flags`` (frame ->
    flags) says otherwise."""
    marked = {pfn: FRAME_PCP for c in caches for pfn in c.frames if pfn < FRAMES}
    return check(list(caches), USED, RESERVED, FRAMES, table(refs, {**marked, **(flags or {})}))


def test_healthy_caches_pass_and_their_frames_count_as_cached():
    a, b = cache(0, (5, 6)), cache(1, (7,))
    assert problems(a, b) == []
    assert a.frames == [5, 6] and cached_frames([a, b]) == {5, 6, 7}


def test_a_pcp_flag_on_a_frame_no_cache_holds_is_reported():
    assert problems(cache(0, (5, 6)), flags={7: FRAME_PCP}) == [
        "frame 0x7 has the pcp flag, but no cache holds it"]


def test_a_cached_frame_without_the_pcp_flag_or_with_another_is_reported():
    assert problems(cache(0, (5, 6)), cache(1, (7,)), flags={6: 0, 7: FRAME_PCP | 1}) == [
        "CPU 0's frame cache: frame 0x6 has flags -, not pcp alone",
        "CPU 1's frame cache: frame 0x7 has flags cow,pcp, not pcp alone"]


def test_a_free_frame_in_a_cache_is_reported():
    assert problems(cache(frames=(2,))) == [
        "CPU 0's frame cache: frame 0x2 is free in the bitmap (the PMM may hand it out again)"]


def test_a_reserved_frame_is_reported():
    assert problems(cache(frames=(4,))) == ["CPU 0's frame cache: frame 0x4 is reserved"]


def test_a_frame_outside_the_bitmap_is_reported():
    assert problems(cache(frames=(FRAMES,))) == [
        f"CPU 0's frame cache: frame {FRAMES:#x} is outside the bitmap's {FRAMES} frames"]


def test_a_held_frame_is_reported():
    assert problems(cache(frames=(5,)), refs={5: 1}) == [
        "CPU 0's frame cache: frame 0x5 has 1 references: someone holds it"]


def test_a_frame_cached_twice_is_reported_once_per_extra_copy():
    assert problems(cache(0, (5, 5))) == ["CPU 0's frame cache: frame 0x5 is cached twice"]
    assert problems(cache(0, (5,)), cache(1, (5,))) == [
        "CPU 1's frame cache: frame 0x5 is cached also by CPU 0"]


def test_statistics_that_do_not_add_up_are_reported():
    stats = {"allocs": 3, "frees": 1, "refills": 1, "refilled": 16, "drains": 1, "drained": 12}
    assert problems(cache(frames=(5,), stats=stats)) == [
        "CPU 0's frame cache holds 1 frames, its statistics say 2 (refilled 16 + frees 1 - "
        "allocs 3 - drained 12)"]


def test_an_unanswered_drain_or_a_busy_cache_is_reported():
    assert problems(cache(asked=4, done=3)) == [
        "CPU 0's frame cache has a drain request unanswered at a stop (asked 4, answered 3)"]
    assert problems(cache(busy=1)) == [
        "CPU 0's frame cache is giving frames back at a stop (busy 1)"]


def test_a_count_past_the_capacity_is_reported_alone():
    broken = CpuCache(0, 5, (5, 6, 7, 0), STATS, 4, 3, 1)
    assert problems(broken) == ["CPU 0's frame cache says it holds 5 frames, it has room for 4"]


def test_a_lock_left_taken_is_reported():
    free = {"next": 7, "owner": 7, "cpu": SPIN_NO_CPU}
    assert lock_problems("pmm_lock", free) == []
    assert lock_problems("pmm_lock", dict(free, owner=8)) == [
        "pmm_lock is locked at a stop (next 7, owner 8, holder CPU 0xff)"]
    assert lock_problems("pmm_lock", dict(free, cpu=0)) == [
        "pmm_lock is locked at a stop (next 7, owner 7, holder CPU 0x0)"]
