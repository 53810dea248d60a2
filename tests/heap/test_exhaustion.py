"""Out of memory: kmalloc returns NULL, the heap stays consistent, and once
everything is freed (and trimmed) the PMM and the heap are back to baseline."""

import pytest

from harness.targets.mmverify.constants import firmware_constants
from tests.heap.rules import largest_sizes


def baseline(machine, kernel):
    machine.call("heap_trim")
    stats = kernel.heap_stats()
    return kernel.pmm_stats()["free_frames"], stats["bytes_mapped"], stats["live_blocks"]


@pytest.mark.machine(memory="16M")
@pytest.mark.parametrize("sizes", [(16,), (2048,), (12000,), (40, 700, 3000, 64, 9000)],
                         ids=["small", "largest-slab", "large", "mixed"])
def test_allocate_until_null_then_free_all(machine, kernel, sizes):
    before = baseline(machine, kernel)
    total = 0
    for size in sizes:  # one size after another: each fills what the last left
        total += machine.call("agent_heap_exhaust", size, timeout=60)
        assert machine.call("kmalloc", size) == 0, "exhausted: NULL"
    assert total > 0
    assert machine.call("heap_check") == 0, "consistent while full"
    assert kernel.heap_stats()["failed_allocations"] >= len(sizes)
    assert machine.call("agent_heap_release", timeout=60) == total
    assert baseline(machine, kernel) == before
    assert machine.call("kmalloc", 100) != 0, "memory is usable again"


def test_trim_keeps_live_blocks_intact(machine, kernel):
    """Trimming a free block at the top must not take the page it shares
    with the live block before it."""
    live = machine.call("kmalloc", 5000)
    machine.write(live, b"L" * 5000)
    tail = machine.call("kmalloc", 20000)
    machine.call("kfree", tail)
    machine.call("heap_trim")
    assert machine.read(live, 5000) == b"L" * 5000
    assert kernel.heap_stats()["bytes_mapped"] >= 5000
    machine.call("kfree", live)


@pytest.mark.machine(memory="128M")
def test_the_slab_range_fills_to_its_last_chunk(machine, kernel, firmware):
    """With frames to spare, blocks of the top class fill every free chunk of
    the slab range: exactly the free slots there were plus a full slab per
    free chunk, and then every chunk is in use."""
    const = firmware_constants(firmware.kernel)
    chunks = (const["LARGE_BASE"] - const["SLAB_BASE"]) // const["SLAB_CHUNK"]
    used = machine.symbol("slab_chunk_used")

    def chunks_in_use() -> int:
        return int.from_bytes(kernel.read_kernel(used, chunks // 8), "little").bit_count()

    capacities = [c for c in kernel.heap_stats()["class_size"] if c]
    top = len(capacities) - 1
    slot_count = kernel.read_array("slab_class", machine.symbol("slab_classes"),
                                   len(capacities))[top]["slot_count"]
    stats = kernel.heap_stats()
    free_slots = stats["class_slabs"][top] * slot_count - stats["class_live"][top]
    expected = free_slots + (chunks - chunks_in_use()) * slot_count
    size = largest_sizes(capacities)[top]
    assert machine.call("agent_heap_exhaust", size, timeout=60) == expected
    assert chunks_in_use() == chunks, "the last chunk too"
    assert kernel.pmm_stats()["free_frames"] > 0, "the range ran out, not the frames"
    assert machine.call("agent_heap_release", timeout=60) == expected


@pytest.mark.machine(memory="16M")
def test_a_krealloc_whose_growth_needs_a_frame_the_pmm_lacks_fails_and_keeps_the_block(
        machine, kernel):
    """The block grows in place only as far as pages can be mapped behind it:
    with the PMM exhausted, krealloc to 64 KiB returns NULL (moving needs
    frames too), the block keeps its address and every byte, and the heap
    stays consistent; with the frames back, the same call works."""
    size, grown = 8192, 64 * 1024
    p = machine.call("kmalloc", size)
    data = bytes(range(256)) * (size // 256)
    machine.write(p, data)
    held = machine.call("agent_pmm_exhaust")
    try:
        assert held > 0 and kernel.pmm_stats()["free_frames"] == 0
        assert machine.call("krealloc", p, grown) == 0, "no frame to grow into: NULL"
        assert machine.read(p, size) == data, "the block untouched"
        assert machine.call("heap_check") == 0
    finally:
        machine.call("agent_pmm_release")
    q = machine.call("krealloc", p, grown)
    assert q != 0 and machine.read(q, size) == data
    machine.call("kfree", q)
