"""Where frame_table_init puts the frame table, and what it does when it
cannot: the PMM's bitmap is edited in guest RAM when the kernel reaches
frame_table_init, so the lowest run of free frames lies where the test wants
it, or nowhere.  A 1 GiB machine: 262144 frames, a 1 MiB table (256 frames),
the direct map ending at 768 MiB."""

import pytest

from harness import GuestPanic
from harness.targets.mmverify.kernel import Kernel

FRAME = 4096
DIRECT_MAP_LIMIT = 0x30000000
TABLE_FRAMES = 262144 * 4 // FRAME


def stop_at_frame_table_init(boot):
    m = boot(memory="1G")
    m.run_to("frame_table_init")
    k = Kernel(m)
    assert k.pmm_stats()["frame_count"] == 262144
    return m, k


def leave_free_only(m, k, start: int, count: int) -> None:
    """Every frame below 4 GiB used in the level-0 bitmap but [start,
    start + count)."""
    frames = k.pmm_stats()["frame_count"]
    bits = bytearray(b"\xff" * (frames // 8))
    for f in range(start, start + count):
        bits[f // 8] &= ~(1 << (f % 8))
    m.write_phys(k.u32("pmm_bitmap") - k.kernel_base, bytes(bits))


def test_the_table_is_zeroed_whatever_ram_held(boot):
    """Real RAM is not zero at boot (QEMU's is): garbage where the table goes
    must not become reference counts."""
    m, k = stop_at_frame_table_init(boot)
    used, _ = k.pmm_bitmaps()
    start = next(f for f in range(256, 262144 - TABLE_FRAMES)
                 if not any(used[f + i] for i in range(TABLE_FRAMES)))
    m.write_phys(start * FRAME, b"\xab" * (TABLE_FRAMES * FRAME))
    m.run_to("kernel_ready")
    assert k.u32("frame_table_phys") == start * FRAME, "the lowest run, as allocate_pages takes"
    assert m.read_phys(start * FRAME, TABLE_FRAMES * FRAME) == bytes(TABLE_FRAMES * FRAME)


def test_a_run_that_ends_exactly_at_the_direct_maps_end_is_taken(boot):
    m, k = stop_at_frame_table_init(boot)
    start = DIRECT_MAP_LIMIT // FRAME - TABLE_FRAMES
    leave_free_only(m, k, start, TABLE_FRAMES)
    # Up to the buddy lists only: they need their own frames, and none are left.
    m.run_to("pmm_buddy_init")
    assert k.u32("frame_table_phys") == start * FRAME
    assert m.records("FRAME")[0].int("table") == start * FRAME


@pytest.mark.parametrize("free_from", [DIRECT_MAP_LIMIT // FRAME - TABLE_FRAMES + 1, None],
                         ids=["past-the-direct-map", "no-run"])
def test_no_run_of_low_frames_is_a_panic_naming_the_size(boot, free_from):
    """A run that crosses the direct map's end by one frame is as good as
    none: the kernel reaches the table through the direct map."""
    m, k = stop_at_frame_table_init(boot)
    leave_free_only(m, k, free_from or 0, TABLE_FRAMES if free_from else 0)
    with pytest.raises(GuestPanic) as info:
        m.run_to("kernel_ready")
    assert info.value.panic["msg"] == "no 1024 KiB run of low frames for the frame table"
