"""memory_init reads exactly boot_info's first region_count regions, and says
the truth when the frame bitmap has nowhere to go.

Each test stops the kernel at memory_init, after kmain copied the loader's
map into boot_info, and changes that copy in guest RAM: the kernel must act
on what is there and on nothing past region_count."""

import pytest

from harness import GuestPanic
from harness.targets.mmverify.kernel import Kernel

FRAME = 4096
WORD = 32
AVAILABLE = 1
RESERVED = 2
HOLE = (0xA0000, 0xC0000)  # VGA memory: in no region of any PC memory map


def region_address(k: Kernel, index: int) -> int:
    return (k.field_address("boot_info", "boot_info", "regions")
            + index * k.layout("boot_memory_region").size)


def write_region(machine, k: Kernel, index: int, start: int, end: int, kind: int) -> None:
    layout = k.layout("boot_memory_region")
    base = region_address(k, index)
    machine.write(base + layout.fields["start"].offset, start.to_bytes(8, "little"))
    machine.write(base + layout.fields["end"].offset, end.to_bytes(8, "little"))
    machine.write(base + layout.fields["type"].offset, kind.to_bytes(4, "little"))


def whole_frames(regions) -> int:
    return sum(max(0, r["end"] // FRAME - (r["start"] + FRAME - 1) // FRAME)
               for r in regions if r["type"] == AVAILABLE)


def bitmap_bytes(frames: int) -> int:
    """pmm.c's size for the bitmaps of ``frames`` frames: every level of the
    used bitmap plus the reserved bitmap, whole pages."""
    words = (frames + WORD - 1) // WORD
    total = words  # the reserved bitmap
    while True:
        total += words
        if words == 1:
            break
        words = (words + WORD - 1) // WORD
    return (total * 4 + FRAME - 1) // FRAME * FRAME


def test_an_available_region_past_region_count_is_ignored(boot):
    """A stale entry just past the map's end, available RAM over the hole
    below 1 MiB that no region covers: counting it would add its frames to
    usable_frames (the first MiB is reserved only after they are counted)."""
    m = boot()
    m.run_to("memory_init")
    k = Kernel(m)
    regions = k.memory_regions()
    assert not any(r["start"] < HOLE[1] and HOLE[0] < r["end"] for r in regions)
    write_region(m, k, len(regions), *HOLE, AVAILABLE)
    m.run_to("kernel_ready")
    assert k.pmm_stats()["usable_frames"] == whole_frames(regions)
    assert m.call("get_total_memory") == whole_frames(regions) * FRAME


def test_no_available_ram_at_the_bitmaps_place_is_a_panic_naming_size_and_place(boot):
    """The available region the bitmaps would go into starts a page too late:
    the panic gives their size in KiB and the address they needed."""
    m = boot()
    m.run_to("memory_init")
    k = Kernel(m)
    regions = k.memory_regions()
    assert k.read_struct("boot_info", "boot_info")["module_count"] == 0
    place = (m.symbol("__kernel_end") - k.kernel_base + FRAME - 1) // FRAME * FRAME
    index, holder = next((i, r) for i, r in enumerate(regions)
                         if r["type"] == AVAILABLE and r["start"] <= place < r["end"])
    top = max(r["end"] for r in regions if r["type"] == AVAILABLE)
    write_region(m, k, index, place + FRAME, holder["end"], AVAILABLE)
    with pytest.raises(GuestPanic) as info:
        m.run_to("kernel_ready")
    kib = bitmap_bytes(top // FRAME) >> 10
    assert info.value.panic["msg"] == \
        f"no available RAM for the frame bitmap ({kib} KiB at {place:#010x})"
