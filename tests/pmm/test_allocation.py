"""allocate_page / allocate_pages / free_page through GDB, checked against the
kernel's own bitmap as the harness decodes it."""

import pytest

from harness.targets.mmverify.pmm_audit import buddy_model

FRAME = 4096
AVAILABLE = 1


def available(kernel, pa: int) -> bool:
    return any(r["type"] == AVAILABLE and r["start"] <= pa and pa + FRAME <= r["end"]
               for r in kernel.memory_regions())


def test_frames_are_aligned_free_ram_taken_lowest_first(machine, kernel):
    used, reserved = kernel.pmm_bitmaps()
    expected = used.first_clear() * FRAME
    pa = machine.call("allocate_page")
    assert pa == expected, "the lowest free frame"
    assert pa % FRAME == 0 and available(kernel, pa)
    after, _ = kernel.pmm_bitmaps()
    assert after[pa // FRAME] and not reserved[pa // FRAME]
    assert kernel.pmm_stats()["free_frames"] == used.clear_count() - 1


def test_free_returns_the_frame_and_the_counters(machine, kernel):
    before = kernel.pmm_stats()
    pa = machine.call("allocate_page")
    machine.call("free_page", pa)
    used, _ = kernel.pmm_bitmaps()
    assert not used[pa // FRAME]
    assert kernel.pmm_stats() == before


def test_no_frame_is_handed_out_twice(machine):
    frames = [machine.call("allocate_page") for _ in range(100)]
    assert len(set(frames)) == 100


@pytest.mark.parametrize("n", [2, 7, 33, 100])
def test_contiguous_runs(machine, kernel, n):
    """A buddy block of the next power of two, its tail given back: the
    address the model predicts from the kernel's lists."""
    used, _ = kernel.pmm_bitmaps()
    expected = buddy_model(kernel).allocate_pages(n)
    pa = machine.call("allocate_pages", n)
    assert pa == expected * FRAME, "the buddy model's block"
    after, _ = kernel.pmm_bitmaps()
    assert all(after[pa // FRAME + i] for i in range(n))
    machine.call("free_pages", pa, n)
    assert kernel.pmm_bitmaps()[0].value == used.value


def test_run_longer_than_memory_is_null(machine, kernel):
    before = kernel.pmm_stats()
    assert machine.call("allocate_pages", before["frame_count"] + 1) == 0
    after = kernel.pmm_stats()
    assert after["failed_allocations"] == before["failed_allocations"] + 1
    assert after["free_frames"] == before["free_frames"]


@pytest.mark.machine(memory="16M")
def test_exhaustion_then_full_release(machine, kernel):
    before_stats = kernel.pmm_stats()
    before_used, _ = kernel.pmm_bitmaps()
    taken = machine.call("agent_pmm_exhaust")
    assert taken == before_stats["free_frames"]
    assert machine.call("allocate_page") == 0, "exhausted: NULL"
    assert kernel.pmm_stats()["free_frames"] == 0
    used, _ = kernel.pmm_bitmaps()
    assert used.clear_count() == 0

    # Walk the chain the kernel built through the frames: each one unique,
    # aligned, in available RAM.
    seen, pa = set(), kernel.u32("agent_pmm_chain")
    while pa:
        assert pa % FRAME == 0 and pa not in seen and available(kernel, pa)
        seen.add(pa)
        pa = machine.read_phys_u32(pa)
    assert len(seen) == taken

    assert machine.call("agent_pmm_release") == taken
    after = kernel.pmm_stats()
    assert after["free_frames"] == before_stats["free_frames"]
    assert kernel.pmm_bitmaps()[0].value == before_used.value
    assert machine.call("allocate_page") == before_used.first_clear() * FRAME
    assert machine.call("agent_nop", 77) == 77, "the kernel still works"


@pytest.mark.pmm_poked
def test_poked_frame_is_never_handed_out(machine, kernel):
    used, _ = kernel.pmm_bitmaps()
    victim = used.first_clear()
    word_addr = kernel.pmm_bitmap_word_address(victim)
    word = machine.read_u32(word_addr)
    machine.write_u32(word_addr, word | 1 << (victim % 32))
    frames = {machine.call("allocate_page") for _ in range(64)}
    assert victim * FRAME not in frames


@pytest.mark.pmm_poked
def test_poked_full_word_is_skipped(machine, kernel):
    """Fill the whole word holding the next free frame behind the allocator's
    back: it must notice the word is full and move on."""
    used, _ = kernel.pmm_bitmaps()
    victim = used.first_clear()
    word_addr = kernel.pmm_bitmap_word_address(victim)
    machine.write_u32(word_addr, 0xFFFFFFFF)
    expected = kernel.pmm_bitmaps()[0].first_clear()  # the poked word is skipped
    assert expected // 32 != victim // 32
    assert machine.call("allocate_page") == expected * FRAME


@pytest.mark.pmm_poked
def test_a_word_filled_behind_the_allocators_back_loses_no_frames(machine, kernel):
    """A debugger marks the rest of the lowest free word used (as the model
    test's poke can): the allocator must skip that word and go on taking
    frames lowest first from the next one, not lose the next word's frames."""
    used, _ = kernel.pmm_bitmaps()
    first = used.first_clear()
    machine.write_u32(kernel.pmm_bitmap_word_address(first), 0xFFFFFFFF)
    expected = [used.first_clear((first // 32 + 1) * 32)]
    for _ in range(2):
        expected.append(used.first_clear(expected[-1] + 1))
    assert [machine.call("allocate_page") for _ in range(3)] == [f * FRAME for f in expected]
