"""Bad frees are reported with the caller, counted, and change nothing."""

import pytest

from tests.expected import KERNEL_BASE

FRAME = 4096


def snapshot(kernel):
    used, reserved = kernel.pmm_bitmaps()
    return used.value, reserved.value, kernel.pmm_stats()


def free_badly(machine, kernel, pa, kind, counter):
    used, reserved, stats = snapshot(kernel)
    mark = machine.mark()
    machine.call("agent_free_page", pa)
    records = machine.records("PMM", since=mark)
    assert len(records) == 1, records
    rec = records[0]
    assert rec["error"] == kind and rec.int("addr") == pa
    caller = rec.int("caller")
    start = machine.symbol("agent_free_page")
    assert start <= caller < start + 64, "the caller is agent_free_page's call site"
    after_used, after_reserved, after = snapshot(kernel)
    assert (after_used, after_reserved) == (used, reserved), "bitmaps unchanged"
    assert after[counter] == stats[counter] + 1
    assert after["last_error_caller"] == caller
    assert {k: v for k, v in after.items() if k not in (counter, "last_error_caller")} == \
        {k: v for k, v in stats.items() if k not in (counter, "last_error_caller")}


def test_double_free(machine, kernel):
    pa = machine.call("allocate_page")
    machine.call("free_page", pa)
    free_badly(machine, kernel, pa, "double-free", "double_frees")


def test_never_allocated_free_frame(machine, kernel):
    free = kernel.pmm_bitmaps()[0].first_clear() + 10
    free_badly(machine, kernel, free * FRAME, "double-free", "double_frees")


@pytest.mark.parametrize("where", ["kernel_text", "kernel_bss", "bitmap", "first_mib", "null"])
def test_reserved_frames(machine, kernel, where):
    pa = {
        "kernel_text": machine.symbol("kmain") - KERNEL_BASE,
        "kernel_bss": machine.symbol("agent_scratch") - KERNEL_BASE,
        "bitmap": kernel.u32("pmm_bitmap_phys"),
        "first_mib": 0x9000,
        "null": 0,
    }[where] & ~(FRAME - 1)
    free_badly(machine, kernel, pa, "reserved", "reserved_frees")


@pytest.mark.parametrize("offset", [1, 8, FRAME // 2, FRAME - 1])
def test_unaligned(machine, kernel, offset):
    """Any of the low 12 bits set, the lowest and the highest included."""
    pa = machine.call("allocate_page")
    free_badly(machine, kernel, pa + offset, "unaligned", "unaligned_frees")
    machine.call("free_page", pa)  # the real frame is still freeable


@pytest.mark.parametrize("beyond", [0, 1 << 20])
def test_out_of_range(machine, kernel, beyond):
    frames = kernel.pmm_stats()["frame_count"]
    free_badly(machine, kernel, frames * FRAME + beyond, "out-of-range", "out_of_range_frees")


def test_reserved_hole_in_the_memory_map(machine, kernel):
    holes = [r for r in kernel.memory_regions() if r["type"] != 1 and r["start"] >= 0x9F000
             and r["start"] < kernel.pmm_stats()["frame_count"] * FRAME]
    assert holes, "QEMU's map always has reserved regions below the top of RAM"
    free_badly(machine, kernel, holes[0]["start"] & ~(FRAME - 1), "reserved", "reserved_frees")
