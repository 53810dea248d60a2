"""The kernel out of physical frames in the middle of a spawn or a segment's
creation: the call fails with -ENOMEM and gives back everything it took (the
frames, the kernel stack, the heap block of the frame list).  The PMM is
emptied with agent_pmm_exhaust; a few of the frames it took are then handed
back so that the call gets exactly as far as the step under test."""

import pytest

from tests.process.pmm_budget import give_back

pytestmark = pytest.mark.machine(modules=["user/*"], cmdline="aslr=off")

ENOMEM = -12
PROC_KSTACK_PAGES = 2  # include/kernel/proc.h: a kernel stack's frames



def test_a_spawn_with_no_frame_for_its_page_directory_is_enomem(machine, userland, kernel):
    """Two frames left: the kernel stack takes them, create_page_directory
    finds none; proc_spawn must stop there and free the stack."""
    machine.call("heap_trim")
    free_before = kernel.pmm_stats()["free_frames"]
    scratch = machine.symbol("agent_scratch")
    machine.write(scratch, b"hello\0\0")
    assert machine.call("agent_pmm_exhaust") > 0
    give_back(machine, PROC_KSTACK_PAGES)
    mark = machine.mark()
    assert machine.call("proc_spawn", scratch, scratch + 6, 0) == ENOMEM
    assert kernel.pmm_stats()["free_frames"] == PROC_KSTACK_PAGES, "the stack's frames came back"
    machine.call("agent_pmm_release")
    assert machine.records("SPAWN", since=mark) == []
    assert kernel.process_table() == []
    assert kernel.pmm_stats()["free_frames"] == free_before


def test_a_segment_with_no_frame_frees_its_frame_list(machine, userland, kernel):
    """shm_create's kcalloc'd frame list goes back to the heap when the first
    frame cannot be had: the heap's live blocks and bytes are as before."""
    pid = userland.spawn("hello")
    p = machine.symbol("proc_table")  # shm_create reads p only on success
    assert kernel.process_table()[0]["pid"] == pid
    # A small block freed beforehand: kcalloc then needs no new heap page.
    machine.call("kfree", machine.call_value("kmalloc", 16))
    heap_before = kernel.heap_stats()
    assert machine.call("agent_pmm_exhaust") > 0
    assert machine.call("shm_create", p, 1) == ENOMEM
    machine.call("agent_pmm_release")
    heap_after = kernel.heap_stats()
    assert (heap_after["live_blocks"], heap_after["bytes_in_use"]) == \
        (heap_before["live_blocks"], heap_before["bytes_in_use"])
    assert kernel.shm_segments() == []
    userland.run()


def test_a_demand_fault_with_no_frame_for_its_page_table_gives_the_page_back(
        machine, userland, kernel):
    """One frame left when a process first touches its heap (a region with no
    page table yet): reclaim's first pass takes it (the swap slot map, made on
    first use, grows the heap by a page), the zeroed page finds none.  The process is
    killed out-of-memory and everything goes back: after its teardown every
    frame is free again.  (With a frame for the page, the table comes from
    the page-table pool's reserve: tests/pools/test_reserve.py.)"""
    machine.call("heap_trim")
    free_before = kernel.pmm_stats()["free_frames"]
    pid = userland.spawn("demand", "1")
    heap = userland.process(pid).heap_base
    assert machine.call("agent_pmm_exhaust") > 0
    give_back(machine, 1)
    result = userland.run()[pid]
    assert (result.killed, result.reason, result.addr) == (True, "out-of-memory", heap)
    machine.call("agent_pmm_release")
    machine.call("heap_trim")
    assert kernel.pmm_stats()["free_frames"] == free_before, "the page came back"
