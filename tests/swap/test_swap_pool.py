"""Swap through the compressed pool alone (no swap disk: pool-only slots),
judged from outside: the processes' own checks of every byte, their PTEs
(swap entries naming slots), the kernel's counters read by GDB, and the
swap audit after each test (conftest)."""

import pytest

from harness.machine.calls import CallStopped
from tests.swap.swapping import PAGE, swap_entries, swap_stats

pytestmark = pytest.mark.machine(modules=["user/swapper"], memory="32M", cmdline="aslr=off")


def verified(userland, pids):
    """Every process exited 0 and said it found every page whole."""
    results = userland.history()
    assert {p: (results[p].killed, results[p].status) for p in pids} == \
        {p: (False, 0) for p in pids}
    claims = {c.int("pid"): c for c in userland.claims("USER") if c["prog"] == "swapper"}
    assert sorted(claims) == sorted(pids)
    assert all(c.int("bad") == 0 for c in claims.values())
    return claims


def test_processes_holding_more_than_ram_in_zero_pages_all_finish_whole(
        machine, userland, kernel):
    """Four processes of 3500 zero-filled pages each (55 MiB on a 32 MiB
    machine) hold them all at once: pages go out to the pool and come back,
    each process checks every byte, nobody is killed, and when they are gone
    no slot is left in use."""
    pids = [userland.spawn("swapper", f"3500 z {i}") for i in range(4)]
    userland.run()
    verified(userland, pids)
    s = swap_stats(kernel)
    assert s["swap_outs"] > 4 * 3500 - 8192, "more pages than RAM went out"
    assert s["pool_stores"] == s["swap_outs"] and s["disk_writes"] == 0
    assert s["in_use"] == 0 and s["cache_pages"] == 0
    assert machine.records("OOM") == []


def test_a_forked_swapped_page_is_read_once_and_shared_through_the_swap_cache(
        machine, userland, kernel):
    """64 heap pages of text pushed out before the fork: the child's PTEs name
    the same slots (two references each).  Parent and child both read every
    page back and find it whole; each slot was read once (64 loads), the
    second reader of each got the frame the first one's read left in the
    swap cache (64 hits), and the slots are free at the end."""
    pid = userland.spawn("swapper", "64 t 7 pf")
    heap = userland.process(pid).heap_base
    machine.break_at(userland.symbol("swapper", "checkpoint"),
                     condition=f"$cr3 == {userland.process(pid).cr3:#x}")
    with pytest.raises(CallStopped):
        machine.call("sched_run")  # checkpoint(1): every page written and paged out
    machine.delete_breakpoints()
    slots = swap_entries(userland, pid, heap, heap + 64 * PAGE)
    assert sorted(slots) == [heap + k * PAGE for k in range(64)]
    assert len(set(slots.values())) == 64
    before = swap_stats(kernel)
    machine.cont()  # the fork, both processes' checks, both exits
    results = userland.history()
    child = next(p for p in results if p != pid)
    verified(userland, [pid, child])
    after = swap_stats(kernel)
    loads = after["pool_loads"] - before["pool_loads"]
    hits = after["cache_hits"] - before["cache_hits"]
    assert (loads, hits) == (64, 64)
    assert after["in_use"] == 0 and after["cache_pages"] == 0


def counts(kernel, pid):
    p = next(p for p in kernel.process_table() if p["pid"] == pid)
    return p["pages"], p["swapped_pages"]


def test_the_process_counts_follow_its_pages_out_and_back(machine, userland, kernel):
    """32 pages of text paged out: the process has 32 swap entries and the
    kernel counts them (swapped_pages 32, resident pages 32 fewer: the
    invariants hold mid-run); once it has read them all back, none is left
    and its resident count is what it was."""
    from harness.targets.mmverify.invariants import violations

    pid = userland.spawn("swapper", "32 t 3 p")
    heap = userland.process(pid).heap_base
    checkpoint = userland.symbol("swapper", "checkpoint")
    machine.break_at(checkpoint, condition=f"$cr3 == {userland.process(pid).cr3:#x}")
    with pytest.raises(CallStopped):
        machine.call("sched_run")  # checkpoint(1): paged out
    pages, swapped = counts(kernel, pid)
    assert swapped == 32 and len(swap_entries(userland, pid, heap, heap + 32 * PAGE)) == 32
    assert violations(kernel) == []
    machine.cont()  # checkpoint(2): every page read back and checked
    assert counts(kernel, pid) == (pages + 32, 0)
    assert swap_entries(userland, pid, heap, heap + 32 * PAGE) == {}
    assert violations(kernel) == []
    machine.delete_breakpoints()
    machine.cont()
    verified(userland, [pid])


def test_a_process_that_exits_with_pages_in_swap_frees_their_slots(machine, userland, kernel):
    """A process pages out 48 pages and exits without touching them: its
    slots and pool entries go with it."""
    before = dict(kernel.read_struct("zswap_stats", "zswap_stats"))
    pid = userland.spawn("swapper", "48 t 4 px")
    userland.run()
    assert userland.history()[pid].status == 0
    s = swap_stats(kernel)
    assert s["swap_outs"] == 48 and s["swap_ins"] == 0 and s["in_use"] == 0
    after = dict(kernel.read_struct("zswap_stats", "zswap_stats"))
    assert after["stored_pages"] == before["stored_pages"]
    assert after["invalidates"] - before["invalidates"] == 48


def test_exec_drops_the_old_images_swapped_pages(machine, userland, kernel):
    """A process with 24 pages in swap execs a new image: the old image's
    slots are freed with its directory and the process counts no swapped
    page any more (the invariants hold in the new image, mid-run)."""
    from harness.targets.mmverify.invariants import violations

    pid = userland.spawn("swapper", "24 t 6 pe")
    checkpoint = userland.symbol("swapper", "checkpoint")
    machine.break_at(checkpoint, condition=f"$cr3 == {userland.process(pid).cr3:#x}")
    with pytest.raises(CallStopped):
        machine.call("sched_run")  # checkpoint(1) of the first image: 24 pages out
    assert counts(kernel, pid)[1] == 24 and swap_stats(kernel)["in_use"] == 24
    machine.delete_breakpoints()
    machine.break_at(checkpoint)
    machine.cont()  # checkpoint(1) of the new image
    assert counts(kernel, pid)[1] == 0 and swap_stats(kernel)["in_use"] == 0
    assert violations(kernel) == []
    machine.delete_breakpoints()
    machine.cont()
    verified(userland, [pid])
