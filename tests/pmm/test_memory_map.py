"""memory_init builds the frame bitmap from the multiboot map, for every RAM size.

The oracle is QEMU: its flat memory tree says where guest RAM is, independently
of the BIOS, the loader and the kernel."""

import re

import pytest

from harness import GuestPanic
from harness.decode.qemuview import ram_ranges
from harness.targets.mmverify.kernel import Kernel
from tests.expected import KERNEL_BASE

FRAME = 4096
AVAILABLE = 1
FOUR_GIB = 1 << 32
BIOS_TOP_RESERVE = 256 << 10  # SeaBIOS keeps the top 128 KiB; allow for more


def ram_below_4g(machine) -> int:
    return max(end for start, end in ram_ranges(machine.monitor("info mtree -f"))
               if end <= FOUR_GIB)


def check_counts_against_qemu(machine):
    k = Kernel(machine)
    stats = k.pmm_stats()
    top = ram_below_4g(machine)
    covered = stats["frame_count"] * FRAME
    assert top - BIOS_TOP_RESERVE <= covered <= top, "the bitmap covers RAM below 4 GiB"

    # the memory map holds RAM above 4 GiB too; these machines' PMMs cover below
    available = [r for r in k.memory_regions() if r["type"] == AVAILABLE and r["start"] < FOUR_GIB]
    whole_frames = sum(max(0, min(r["end"], FOUR_GIB) // FRAME - (r["start"] + FRAME - 1) // FRAME)
                       for r in available)
    total = machine.call("get_total_memory")
    assert total == stats["usable_frames"] * FRAME == whole_frames * FRAME
    assert top - (1 << 20) - BIOS_TOP_RESERVE <= total <= top

    used, reserved = k.pmm_bitmaps()
    assert machine.call("get_free_memory") == stats["free_frames"] * FRAME
    assert used.clear_count() == stats["free_frames"], "harness decoding agrees with counters"
    assert reserved.set_count() == stats["reserved_frames"]
    return stats


@pytest.mark.parametrize("memory", ["8M", "64M", "512M"])
def test_counts_match_qemu(boot, memory):
    m = boot(memory=memory)
    m.run_to("kernel_ready")
    check_counts_against_qemu(m)


def test_ram_beyond_the_pci_hole_is_left_out_in_legacy_mode(boot):
    """3.5 GiB: QEMU keeps 3 GiB below 4 GiB and moves 512 MiB above it,
    where 32-bit paging cannot reach (PAE can: tests/pmm/test_high_ram_pmm.py);
    the PMM counts it as ignored and says so."""
    m = boot(memory="3584M", cmdline="paging=legacy")
    m.run_to("kernel_ready")
    high = [(start, end) for start, end in ram_ranges(m.monitor("info mtree -f"))
            if start >= FOUR_GIB]
    assert high == [(FOUR_GIB, FOUR_GIB + (512 << 20))]
    stats = check_counts_against_qemu(m)
    assert stats["frame_count"] * FRAME <= 3 << 30
    assert stats["ignored_frames"] == (512 << 20) // FRAME
    assert m.records("PMM")[0].int("ignored") == stats["ignored_frames"]


@pytest.mark.parametrize("memory", ["2M", "3M"])
def test_too_little_ram_is_a_clear_panic(boot, memory, request):
    if request.config.getoption("--boot") == "iso":
        # GRUB 2.06 stops with "out of memory" before loading the kernel at
        # 2 MiB and, depending on the image's contents, at 3 MiB: the kernel
        # is never reached, so there is nothing of ours to test.
        pytest.skip("GRUB itself needs more RAM than this; the kernel is never reached")
    m = boot(memory=memory)
    with pytest.raises(GuestPanic) as info:
        m.run_to("kernel_ready")
    msg = info.value.panic["msg"]
    numbers = re.fullmatch(r"too little RAM: need 2048 KiB free after the kernel, "
                           r"found (\d+) KiB \(RAM top (\d+) KiB\)", msg)
    assert numbers, msg
    found, top = (int(n) for n in numbers.groups())
    ram = int(memory.removesuffix("M")) << 10
    assert ram - (BIOS_TOP_RESERVE >> 10) <= top <= ram, "the top of RAM QEMU was given"
    assert found < min(2048, top - 1024), "less than needed, the first MiB never free"


def frames_of(start: int, end: int) -> range:
    return range(start // FRAME, (end + FRAME - 1) // FRAME)


# With modules the loader's module table is copied to an arena the PMM must
# also keep; without, there is none.
@pytest.mark.parametrize("with_modules", [
    False, pytest.param(True, marks=pytest.mark.machine(modules=["user/hello", "user/worker"]))],
    ids=["no-modules", "modules"])
def test_everything_not_free_ram_is_used_and_reserved(machine, kernel, with_modules):
    used, reserved = kernel.pmm_bitmaps()
    must_reserve = {
        "first MiB": frames_of(0, 1 << 20),
        "kernel image": frames_of(machine.symbol("__kernel_start") - KERNEL_BASE,
                                  machine.symbol("__kernel_end") - KERNEL_BASE),
        "bitmaps": frames_of(kernel.u32("pmm_bitmap_phys"),
                             kernel.u32("pmm_bitmap_phys") + kernel.u32("pmm_bitmap_bytes")),
    }
    for region in kernel.memory_regions():
        if region["type"] != AVAILABLE and region["start"] < used.count * FRAME:
            must_reserve[f"region {region['start']:#x}"] = frames_of(
                region["start"], min(region["end"], used.count * FRAME))
    for module in kernel.modules():
        must_reserve[f"module {module['start']:#x}"] = frames_of(module["start"], module["end"])
    info = kernel.read_struct("boot_info", "boot_info")
    assert (info["arena_end"] > info["arena_start"]) == with_modules
    must_reserve["module table"] = frames_of(info["arena_start"], info["arena_end"])
    for what, frames in must_reserve.items():
        bad = [f for f in frames if f < used.count and not (used[f] and reserved[f])]
        assert not bad, f"{what}: frames {bad[:5]} not marked used+reserved"


def test_bitmap_location_is_exported_after_the_kernel(machine, kernel):
    phys = kernel.u32("pmm_bitmap_phys")
    assert phys % FRAME == 0
    assert phys >= machine.symbol("__kernel_end") - KERNEL_BASE
    assert kernel.u32("pmm_bitmap") == phys + KERNEL_BASE
    record = machine.records("PMM")[0]
    assert record.int("bitmap") == phys
    assert record.int("frames") == kernel.pmm_stats()["frame_count"]
