"""The top of RAM: allocation runs to exhaustion lowest first, so the last
frame handed out is exactly the last whole frame of the highest available
region of the memory map, and the frame one past it is not the PMM's."""

import pytest

from tests.pmm.exact import FRAME, ExactPmm
from tests.pmm.summaries import NONE

AVAILABLE = 1


def last_usable_frame(kernel) -> int:
    """The last whole frame of the highest available region (from the
    loader's map as the kernel copied it)."""
    top = max(r["end"] for r in kernel.memory_regions() if r["type"] == AVAILABLE)
    return top // FRAME - 1


@pytest.mark.machine(memory="16M")
def test_the_last_frame_handed_out_is_the_last_frame_of_ram(machine, kernel):
    pmm = ExactPmm(kernel)
    last = last_usable_frame(kernel)
    assert pmm.frames == last + 1, "the bitmap ends with the last frame of RAM"
    assert not pmm.reserved[last]
    free, before = pmm.stats["free_frames"], pmm.used

    assert machine.call("agent_pmm_exhaust") == free
    assert kernel.u32("agent_pmm_chain") == last * FRAME, "the last frame, taken last"
    pmm.used = (1 << pmm.frames) - 1
    pmm.stats["free_frames"] = 0
    pmm.stats["failed_allocations"] += 1  # the allocation that ended the loop
    pmm.check()
    assert kernel.pmm_hint() == NONE
    pmm.allocate()  # NULL, counted

    mark = machine.mark()
    machine.call("agent_free_page", (last + 1) * FRAME)
    assert [(r["error"], r.int("addr")) for r in machine.records("PMM", since=mark)] == \
        [("out-of-range", (last + 1) * FRAME)], "one past the last frame is not a frame"
    pmm.stats["out_of_range_frees"] += 1
    pmm.stats["last_error_caller"] = machine.records("PMM", since=mark)[0].int("caller")
    pmm.check()

    # The last frame's word is full (with its padding, if any): freeing the
    # last frame un-fills it, and it is the only free frame.
    pmm.free(last)
    assert pmm.allocate() == last
    pmm.free(last - 1)
    pmm.free(last)
    assert pmm.allocate_run(3) is None, "only two frames are free"
    assert pmm.allocate_run(2) == last - 1, "the run ending at the last frame"

    # The chain still runs through both (their first words were not touched).
    assert machine.call("agent_pmm_release") == free
    pmm.used, pmm.stats["free_frames"] = before, free
    pmm.check()
