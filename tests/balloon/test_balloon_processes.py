"""Processes beside the balloon: the frames it holds are really gone from
the guest until it deflates, and the scheduler's loop is one of the safe
points where a new target is carried out."""

import pytest

from harness.errors import GuestTimeout
from harness.machine.calls import CallStopped
from tests.balloon.test_balloon import (
    RAM_MIB,
    balloon_frames,
    balloon_stats,
    resize,
    run_while,
)

pytestmark = pytest.mark.machine(memory="128M", balloon=True, modules=["user/*"],
                                 cmdline="aslr=off")


def squeeze(machine, kernel, free: int) -> int:
    """Balloon the guest down to leave ``free`` to ``free`` + 255 frames: the
    size in MiB."""
    mib = RAM_MIB - (kernel.pmm_stats()["free_frames"] - free) // 256
    resize(machine, mib)
    return mib


@pytest.mark.machine(memory="128M", balloon=True, modules=["user/*"], cmdline="aslr=off zswap=off")
def test_without_swap_a_process_needing_the_ballooned_memory_is_the_oom_victim(
        machine, userland, kernel):
    """No swap, no compressed pool: with about 10 MiB left free, a process
    touching 14 MiB (within its 16 MiB limit) is killed out-of-memory and
    the balloon keeps every frame; deflated, the same process runs through."""
    pages = 3584  # fill's default (PROC_MAX_PAGES, 16 MiB, counts its image and stack too)
    free_before = kernel.pmm_stats()["free_frames"]
    mib = squeeze(machine, kernel, 2500)
    held = balloon_frames(kernel)
    pid = userland.spawn("fill", str(pages))
    result = userland.run()[pid]
    assert (result.killed, result.reason) == (True, "out-of-memory")
    assert balloon_frames(kernel) == held, "the balloon gave nothing up"
    assert machine.query_balloon() == mib << 20
    resize(machine, RAM_MIB)
    pid = userland.spawn("fill", str(pages))
    result = userland.run()[pid]
    assert (result.killed, result.status) == (False, 0)
    assert kernel.pmm_stats()["free_frames"] == free_before


def test_with_the_compressed_pool_the_process_is_reclaimed_from(machine, userland, kernel):
    """The default kernel swaps to its compressed pool: the same process
    runs through, its pages evicted to make room, and the balloon keeps
    every frame meanwhile.  The account is exact, taken at fill's
    checkpoint(1) (every heap page written, none freed yet): each of its
    3584 heap pages is either mapped or in a swap entry of its page tables
    (the host's walk); every eviction was reclaim's (nothing else runs, the
    caches hold nothing to give back); every slot in use is one of those
    entries; the evictions that are not entries were read back in.  How many
    evictions it takes is not a simple difference of free frames: the
    squeeze leaves 2500 to 2755 free, the reserve stays free, and the frames
    also hold fill's page tables, its image and stack and the pool's
    compressed copies, while reclaim's first step (the heap's quick lists)
    gives some back uncounted."""
    squeeze(machine, kernel, 2500)
    held = balloon_frames(kernel)
    pid = userland.spawn("fill", "3584")
    fill = userland.process(pid)
    machine.break_at(userland.symbol("fill", "checkpoint"), condition=f"$cr3 == {fill.cr3:#x}")
    with pytest.raises(CallStopped):
        machine.call("sched_run")
    machine.delete_breakpoints()
    fill = userland.process(pid)
    assert fill.brk - fill.heap_base == 3584 * 4096
    space = userland.address_space(pid)
    mapped = len(list(space.mappings(fill.heap_base, fill.brk)))
    swapped = len(list(space.swap_pages(fill.heap_base, fill.brk)))
    assert mapped + swapped == 3584
    assert swapped > 0, "the process did not fit: some of it had to go"
    all_swapped = len(list(space.swap_pages(0, machine.cfg.target.kernel_base)))
    swap = kernel.read_struct("swap_stats", "swap_stats")
    reclaim = kernel.read_struct("reclaim_stats", "reclaim_stats")
    assert (reclaim["from_bcache"], reclaim["from_pagecache"]) == (0, 0)
    assert reclaim["swapped_out"] == swap["swap_outs"] == swap["pool_stores"]
    assert swap["in_use"] == all_swapped
    assert swap["swap_outs"] - swap["swap_ins"] == all_swapped
    # Not reclaim["failed"]: reclaim counts net frames gained, and a call whose
    # evictions went into the pool's new compressed blocks can gain none while
    # the process still goes on (the next call gains them).
    assert (reclaim["oom_kills"], swap["disk_writes"]) == (0, 0)
    assert balloon_frames(kernel) == held
    machine.cont()  # sched_run's call finishes: fill exits
    result = userland.history()[pid]
    assert (result.killed, result.status) == (False, 0)
    assert balloon_frames(kernel) == held
    # What the host is told: major faults are the swap-ins (file pages come
    # from the page cache and count as minor; dev/balloon.h), which the walk
    # above counted as the evictions that are no longer swap entries.
    after = kernel.read_struct("swap_stats", "swap_stats")
    assert (after["swap_outs"], after["swap_ins"]) == (swap["swap_outs"], swap["swap_ins"])
    swap_ins = swap["swap_outs"] - all_swapped
    assert swap_ins > 0
    machine.poll_guest_stats(1)
    run_while(machine, lambda: machine.guest_stats()["stats"]["stat-swap-out"] <= 0)
    stats = machine.guest_stats()["stats"]
    assert stats["stat-major-faults"] == swap_ins
    assert (stats["stat-swap-in"], stats["stat-swap-out"]) == (swap_ins * 4096,
                                                               swap["swap_outs"] * 4096)


def test_the_scheduler_carries_out_a_target_between_processes(machine, userland, kernel):
    """The target changes while the guest is stopped; only the scheduler runs
    (userland.run calls sched_run, never reaching the idle loop): the change
    interrupts the first process (user mode runs with interrupts on), the
    balloon is inflated when the scheduler gets back from it, and the second
    process sees no interrupt for the hundred buffers the device returned
    meanwhile (the driver polls its used rings)."""
    machine.balloon(64)
    first, second = userland.spawn("hello"), userland.spawn("hello")
    results = userland.run()
    assert results[first].status == results[second].status == 0
    held = (RAM_MIB - 64) * 256
    stats = balloon_stats(kernel)
    assert stats["irqs"] == 1, "one interrupt: the config change"
    assert stats["actual"] == held
    assert len(balloon_frames(kernel)) == held
    assert machine.query_balloon() == 64 << 20


def test_a_program_that_never_traps_does_not_hold_a_change_back(machine, userland, kernel):
    """forever computes in user mode and never ends (preemption is off): the
    balloon's interrupt hands the CPU to the scheduler, whose loop is a safe
    point, so the change is carried out while forever is still alive."""
    pid = userland.spawn("forever")
    machine.balloon(64)
    with pytest.raises(GuestTimeout):
        userland.run(timeout=3)
    held = (RAM_MIB - 64) * 256
    assert len(balloon_frames(kernel)) == held
    assert machine.query_balloon() == 64 << 20
    assert userland.process(pid).state in ("ready", "running"), "forever still runs"
    spins = int.from_bytes(userland.read(pid, userland.symbol("forever", "spins"), 4), "little")
    assert spins > 0
    assert balloon_stats(kernel)["irqs"] == 1


def test_between_processes_the_balloon_has_the_frames_of_the_one_that_ended(
        machine, userland, kernel):
    """The target changes while fill is ending (in proc_exit, interrupts
    off): the scheduler's safe point comes after fill is reaped, so the
    balloon takes fill's frames back from the PMM rather than evicting them
    (no swap-out, nothing short)."""
    mib = squeeze(machine, kernel, 2500)
    pid = userland.spawn("fill", "2000")
    machine.break_at("proc_exit", condition=f"$cr3 == {userland.process(pid).cr3:#x}")
    with pytest.raises(CallStopped):
        machine.call("sched_run")
    machine.delete_breakpoints()
    free = kernel.pmm_stats()["free_frames"]
    assert free < 1000, "fill holds most of what the squeeze left"
    more = (free + 1000 + 255) // 256  # MiB: more than is free until fill is gone
    mark = machine.mark()
    machine.balloon(mib - more)
    machine.cont()  # sched_run's call finishes
    assert userland.history()[pid].status == 0
    [record] = machine.records("BALLOON", since=mark)
    assert record.fields["short"] == "0"
    assert machine.query_balloon() == (mib - more) << 20
    assert kernel.read_struct("swap_stats", "swap_stats")["swap_outs"] == 0
