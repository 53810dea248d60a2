"""The PMM on a 6 GiB machine: 3 GiB below 4 GiB, 3 GiB at 4 GiB.

In PAE mode the PMM manages all of it: its counts equal QEMU's RAM ranges,
the bitmap's bits for frames above 4 GiB (read from guest RAM) say free,
allocate_page still never hands out a frame at or above 4 GiB, and user
frames (pmm_alloc_user_frame) come from there lowest first.  In legacy mode
the RAM above 4 GiB is ignored, and the PMM says how much.

Fresh boots (run to kernel_ready): a 6 GiB snapshot costs more than a boot."""

from harness.targets.mmverify.kernel import Kernel
from tests.boot.test_high_ram import BELOW, HIGH, HIGH_END
from tests.boot.test_high_ram import pytestmark as high_ram_marks

FRAME = 4096
AVAILABLE = 1
HIGH_PFN = HIGH // FRAME
HIGH_FRAMES = (HIGH_END - HIGH) // FRAME  # 786432
DIRECT_MAP_PFN = 0x30000000 // FRAME    # memlayout.h's DIRECT_MAP_LIMIT

pytestmark = high_ram_marks


def ready(boot, paging: str):
    m = boot(memory="6G", cmdline=f"paging={paging}")
    m.run_to("kernel_ready")
    return m, Kernel(m)


def whole_frames(regions) -> int:
    return sum(max(0, r["end"] // FRAME - (r["start"] + FRAME - 1) // FRAME)
               for r in regions if r["type"] == AVAILABLE)


def bitmap_words(m, k: Kernel, which: str, first_frame: int, frames: int) -> list[int]:
    """Words of the PMM's used or reserved bitmap, straight from guest RAM."""
    base = k.u32(which) - k.kernel_base + first_frame // 8
    data = m.read_phys(base, frames // 8)
    return [int.from_bytes(data[i:i + 4], "little") for i in range(0, len(data), 4)]


def test_pae_pmm_covers_all_ram_qemu_has(boot):
    m, k = ready(boot, "pae")
    assert k.paging_mode() == "pae"
    assert m.ram_ranges() == [(0, BELOW), (HIGH, HIGH_END)]
    stats = k.pmm_stats()
    assert stats["frame_count"] == HIGH_END // FRAME, "the bitmap reaches the top of RAM"
    assert stats["ignored_frames"] == 0
    regions = k.memory_regions()
    high = [(r["start"], r["end"]) for r in regions
            if r["type"] == AVAILABLE and r["start"] >= HIGH]
    assert high == [(HIGH, HIGH_END)], "the loader's map has QEMU's RAM above 4 GiB"
    low_usable = whole_frames(r for r in regions if r["start"] < HIGH)
    assert stats["usable_frames"] == low_usable + HIGH_FRAMES == whole_frames(regions)
    assert BELOW // FRAME - 512 <= low_usable <= BELOW // FRAME

    used, reserved = k.pmm_bitmaps()
    assert used.clear_count() == stats["free_frames"]
    assert reserved.set_count() == stats["reserved_frames"]
    # each reserved frame accounted for: outside every available region (the
    # hole below 4 GiB among them), the first MiB, the kernel image, the bitmaps
    expected = set(range(stats["frame_count"]))
    for r in regions:
        if r["type"] == AVAILABLE:
            expected -= set(range(-(-r["start"] // FRAME), r["end"] // FRAME))
    phys = k.u32("pmm_bitmap_phys")
    for start, end in ((0, 1 << 20),
                       (m.symbol("__kernel_start") - k.kernel_base,
                        m.symbol("__kernel_end") - k.kernel_base),
                       (phys, phys + k.u32("pmm_bitmap_bytes"))):
        expected |= set(range(start // FRAME, -(-end // FRAME)))
    assert set(reserved.set_bits()) == expected
    assert set(range(BELOW // FRAME, HIGH_PFN)) <= expected, "the hole below 4 GiB"
    # the high frames: all free and none reserved, in the bitmaps in guest RAM
    assert bitmap_words(m, k, "pmm_bitmap", HIGH_PFN, HIGH_FRAMES) == [0] * (HIGH_FRAMES // 32)
    assert bitmap_words(m, k, "pmm_reserved", HIGH_PFN, HIGH_FRAMES) == \
        [0] * (HIGH_FRAMES // 32)
    record = m.records("PMM")[0]
    assert (record.int("frames"), record.int("usable"), record.int("reserved"),
            record.int("ignored")) == \
        (stats["frame_count"], stats["usable_frames"], stats["reserved_frames"], 0)
    # free at memory_init: less the kernel's tables since, all below 4 GiB
    assert record.int("free") - stats["free_frames"] == used.set_count() - stats["reserved_frames"]
    assert record.int("levels") == 5, "32^4 frames are 4 GiB: a fifth level beyond"
    # the seed's byte counts cannot say 7 GiB: they saturate
    assert m.call("get_total_memory") == m.call("get_free_memory") == 0xFFFFFFFF


def test_legacy_mode_ignores_ram_above_4_gib_and_says_so(boot):
    m, k = ready(boot, "legacy")
    assert k.paging_mode() == "legacy"
    stats = k.pmm_stats()
    assert stats["ignored_frames"] == HIGH_FRAMES == m.records("PMM")[0].int("ignored")
    assert stats["frame_count"] * FRAME <= BELOW
    assert stats["usable_frames"] == whole_frames(
        r for r in k.memory_regions() if r["start"] < HIGH)
    # user frames: the top zone in legacy mode is what lies above the direct map
    assert m.call("pmm_alloc_user_frame") == DIRECT_MAP_PFN


def test_allocate_page_never_returns_a_frame_above_4_gib(boot):
    """Low memory exhausted through allocate_page: it fails although three
    GiB are free above 4 GiB, which user frames still get."""
    m, k = ready(boot, "pae")
    before = k.pmm_stats()
    got = m.call("agent_pmm_exhaust", timeout=300)
    after = k.pmm_stats()
    assert got == before["free_frames"] - HIGH_FRAMES, "every free frame below 4 GiB"
    assert after["free_frames"] == HIGH_FRAMES
    assert after["failed_allocations"] == before["failed_allocations"] + 1
    low = bitmap_words(m, k, "pmm_bitmap", 0, BELOW // FRAME)
    assert all(w == 0xFFFFFFFF for w in low), "everything below 4 GiB in use"
    assert bitmap_words(m, k, "pmm_bitmap", HIGH_PFN, HIGH_FRAMES) == [0] * (HIGH_FRAMES // 32)
    assert m.call("allocate_page") == 0
    assert m.call("pmm_alloc_user_frame") == HIGH_PFN
    assert m.call("agent_pmm_release", timeout=300) == got


def test_a_freed_high_frame_is_reused_lowest_first(boot):
    m, k = ready(boot, "pae")
    frames = [m.call("pmm_alloc_user_frame") for _ in range(4)]
    assert frames == [HIGH_PFN + i for i in range(4)]
    assert bitmap_words(m, k, "pmm_bitmap", HIGH_PFN, 32)[0] == 0b1111
    m.call("pmm_free_frame", HIGH_PFN + 2)
    m.call("pmm_free_frame", HIGH_PFN + 1)
    assert bitmap_words(m, k, "pmm_bitmap", HIGH_PFN, 32)[0] == 0b1001
    assert [m.call("pmm_alloc_user_frame") for _ in range(3)] == \
        [HIGH_PFN + 1, HIGH_PFN + 2, HIGH_PFN + 4]
    # a double free of a high frame is refused and reported with its 64-bit address
    free = k.pmm_stats()["free_frames"]
    m.call("pmm_free_frame", HIGH_PFN + 4)
    mark = m.mark()
    m.call("pmm_free_frame", HIGH_PFN + 4)
    assert [(r["error"], r.int("addr")) for r in m.records("PMM", since=mark)] == \
        [("double-free", HIGH + 4 * FRAME)]
    assert k.pmm_stats()["free_frames"] == free + 1
