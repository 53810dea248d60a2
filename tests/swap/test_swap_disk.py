"""Swap on a swap disk (hdc, the default swap= disk), judged from outside:
the processes' own checks of every byte, QEMU's request counters for the
disk (query-blockstats), blkdebug errors injected under the guest, the
processes' PTEs through the walker, and the swap audit after each test
(conftest)."""

import pytest

from harness.machine.disks import DiskError, DiskSpec
from tests.disk.test_bcache import held_buffers
from tests.swap.swapping import PAGE, swap_entries, swap_stats

SWAP_DISK = DiskSpec("hdc", size="160M")
RAM_PAGES = 32 * 256  # a 32 MiB machine


def results_of(userland, pids):
    history = userland.history()
    return {p: (history[p].killed, history[p].reason if history[p].killed else history[p].status)
            for p in pids}


def claims_of(userland):
    return {c.int("pid"): c for c in userland.claims("USER") if c["prog"] == "swapper"}


def verified(userland, pids):
    """Every process exited 0 and said it found every page whole."""
    assert results_of(userland, pids) == {p: (False, 0) for p in pids}
    claims = claims_of(userland)
    assert sorted(claims) == sorted(pids)
    assert all(c.int("bad") == 0 for c in claims.values())


def stop_at_first_checkpoint(machine, userland, pid):
    """Runs until pid's checkpoint(1) (its pages written, and paged out when
    it was asked to); breakpoints gone afterwards."""
    from harness.machine.calls import CallStopped

    machine.break_at(userland.symbol("swapper", "checkpoint"),
                     condition=f"$cr3 == {userland.process(pid).cr3:#x}")
    with pytest.raises(CallStopped):
        machine.call("sched_run")
    machine.delete_breakpoints()


@pytest.mark.machine(modules=["user/swapper"], memory="32M", cmdline="aslr=off",
                     disks=[SWAP_DISK])
def test_ten_processes_touching_four_times_ram_finish_with_every_byte_verified(
        machine, userland, kernel):
    """33000 pages (4 times the machine's 8192) in random, zero and text
    patterns, all held at once: every process checks every byte and exits 0;
    the swap disk saw the random pages (writes and reads in QEMU's own
    counters); no OOM; no slot left in use."""
    patterns = "rrrrzzzttt"
    pids = [userland.spawn("swapper", f"3300 {p} {i}") for i, p in enumerate(patterns)]
    before = machine.blockstats()["hdc"]
    userland.run(timeout=240)
    verified(userland, pids)
    stats = machine.blockstats()["hdc"]
    print("query-blockstats hdc:", {k: stats[k] - before[k] for k in
                                   ("wr_operations", "rd_operations", "wr_bytes", "rd_bytes")})
    assert stats["wr_operations"] > before["wr_operations"]
    assert stats["rd_operations"] > before["rd_operations"]
    assert stats["failed_rd_operations"] == stats["failed_wr_operations"] == 0
    s = swap_stats(kernel)
    assert s["swap_outs"] >= len(pids) * 3300 - RAM_PAGES
    assert s["disk_writes"] > 0 and s["pool_stores"] > 0
    assert s["in_use"] == 0 and machine.records("OOM") == []


@pytest.mark.machine(modules=["user/swapper"], memory="32M", cmdline="aslr=off",
                     disks=[SWAP_DISK])
def test_the_pool_absorbs_compressible_pages_before_the_disk_sees_any(
        machine, userland, kernel):
    """Three processes of text (about 35 MiB on 32 MiB): pages go out, all of
    them into the compressed pool, which has room: the swap disk gets no
    write at all (QEMU's counter), and every byte comes back."""
    pids = [userland.spawn("swapper", f"3000 t {i}") for i in range(3)]
    before = machine.blockstats()["hdc"]
    userland.run()
    verified(userland, pids)
    s = swap_stats(kernel)
    assert s["swap_outs"] > 0 and s["pool_stores"] == s["swap_outs"] and s["disk_writes"] == 0
    after = machine.blockstats()["hdc"]
    assert (after["wr_operations"], after["rd_operations"]) == \
        (before["wr_operations"], before["rd_operations"])


@pytest.mark.machine(modules=["user/swapper"], memory="32M", cmdline="aslr=off zswap=off",
                     disks=[SWAP_DISK])
def test_a_forked_swapped_page_is_read_from_the_disk_once(machine, userland, kernel):
    """64 random heap pages paged out to the disk, then fork: parent and
    child read every page back whole, and QEMU saw exactly 64 reads of the
    swap disk (one per slot): the second reader got the swap cache's frame."""
    pid = userland.spawn("swapper", "64 r 7 pf")
    heap = userland.process(pid).heap_base
    stop_at_first_checkpoint(machine, userland, pid)
    slots = swap_entries(userland, pid, heap, heap + 64 * PAGE)
    assert len(slots) == 64 and len(set(slots.values())) == 64
    before = machine.blockstats()["hdc"]
    machine.cont()
    children = [p for p in userland.history() if p != pid]
    verified(userland, [pid, *children])
    after = machine.blockstats()["hdc"]
    assert after["rd_operations"] - before["rd_operations"] == 64
    assert after["rd_bytes"] - before["rd_bytes"] == 64 * PAGE


@pytest.mark.machine(modules=["user/swapper"], memory="32M", cmdline="aslr=off zswap=off",
                     disks=[DiskSpec("hdc", size="16M", errors=(DiskError("read"),))])
def test_a_swap_in_read_error_kills_only_that_process_with_swap_io(machine, userland):
    """Every read of the swap disk fails (blkdebug): the process whose pages
    are out is killed with reason swap-io at its first swapped page; a
    process whose pages stayed in RAM finishes whole; the kernel goes on
    (a process started afterwards runs and exits)."""
    victim = userland.spawn("swapper", "16 r 1 p")
    bystander = userland.spawn("swapper", "16 r 2")
    userland.run()
    results = userland.history()
    assert (results[victim].killed, results[victim].reason) == (True, "swap-io")
    assert userland.process  # the table is readable: the kernel is up
    assert results_of(userland, [bystander]) == {bystander: (False, 0)}
    assert claims_of(userland)[bystander].int("bad") == 0
    assert machine.records("SWAP", since=0)[-1]["error"] == "read"
    assert machine.blockstats()["hdc"]["failed_rd_operations"] >= 1
    later = userland.spawn("swapper", "8 t 3")
    userland.run()
    assert results_of(userland, [later]) == {later: (False, 0)}


@pytest.mark.machine(modules=["user/swapper"], memory="32M", cmdline="aslr=off zswap=off",
                     disks=[DiskSpec("hdc", size="16M",
                                     errors=(DiskError("write", sector=8),))])
def test_a_swap_out_write_error_retires_the_slot_and_loses_nothing(machine, userland, kernel):
    """Writes to slot 1 (sectors 8-15) fail: the page being written stays in
    RAM untouched, slot 1 is retired (one SWAP error=write record), the next
    page goes to slot 2 and so on: 63 of the 64 pages go out, none names
    slot 1, and every byte comes back."""
    pid = userland.spawn("swapper", "64 r 5 p")
    heap = userland.process(pid).heap_base
    mark = machine.mark()
    stop_at_first_checkpoint(machine, userland, pid)
    slots = swap_entries(userland, pid, heap, heap + 64 * PAGE)
    assert len(slots) == 63 and sorted(slots.values()) == list(range(2, 65))
    errors = machine.records("SWAP", since=mark)
    assert [(r["error"], r["slot"]) for r in errors] == [("write", "1")]
    s = swap_stats(kernel)
    assert (s["retired"], s["write_errors"], s["in_use"]) == (1, 1, 63)
    machine.cont()
    verified(userland, [pid])
    assert swap_stats(kernel)["in_use"] == 0


@pytest.mark.machine(modules=["user/swapper"], memory="16M", cmdline="aslr=off zswap=off",
                     disks=[DiskSpec("hdc", size="1M")])
def test_out_of_ram_and_swap_the_process_with_the_most_pages_is_killed(
        machine, userland, kernel):
    """16 MiB of RAM and 255 swap slots; two processes of 2000 random pages
    each, more than both hold.  The one that runs first writes all of its
    pages; the other runs out in the middle of its own.  The OOM rule picks
    the process with the most resident + swapped pages, the first one, not
    the one whose fault ran out: the first is killed out-of-memory (no page
    fault kills anyone), the other finishes with every byte whole, and no
    slot stays in use."""
    pids = [userland.spawn("swapper", f"2000 r {i}") for i in (1, 2)]
    mark = machine.mark()
    userland.run()
    ooms = machine.records("OOM", since=mark)
    assert len(ooms) == 1
    reclaim = machine.records("RECLAIM", since=mark)
    assert len(reclaim) == 1 and reclaim[0]["got"] == "0"
    assert int(reclaim[0]["swapped"]) >= 255, "the clock filled every slot first"
    victim = int(ooms[0]["pid"])
    survivor = next(p for p in pids if p != victim)
    assert int(ooms[0]["pages"]) + int(ooms[0]["swapped"]) >= 2000, "it held all its pages"
    assert results_of(userland, pids) == {victim: (True, "out-of-memory"), survivor: (False, 0)}
    assert claims_of(userland)[survivor].int("bad") == 0
    assert [r for r in machine.records("PF", since=mark) if r["action"] == "kill"] == []
    s = swap_stats(kernel)
    assert s["disk_writes"] >= 255 and s["in_use"] == 0


@pytest.mark.machine(modules=["user/swapper"], memory="32M", cmdline="aslr=off zswap=off",
                     disks=[SWAP_DISK])
def test_a_page_in_the_swap_cache_goes_back_to_its_slot_without_a_write(
        machine, userland, kernel):
    """After the fork the parent reads its 64 pages back (each kept in the
    swap cache for the child) and pages them out again: its PTEs name the
    same slots as before, the swap cache lets every frame go, and the disk
    sees no write (the slots still hold the pages).  The child then reads
    every page from the disk and finds it whole."""
    pid = userland.spawn("swapper", "64 r 9 pfP")
    heap = userland.process(pid).heap_base
    stop_at_first_checkpoint(machine, userland, pid)
    slots = swap_entries(userland, pid, heap, heap + 64 * PAGE)
    writes = machine.blockstats()["hdc"]["wr_operations"]
    machine.break_at(userland.symbol("swapper", "checkpoint"),
                     condition=f"$cr3 == {userland.process(pid).cr3:#x}")
    machine.cont()  # the parent's checkpoint(2): checked, and paged out again
    machine.delete_breakpoints()
    child = next(p.pid for p in userland.processes() if p.pid != pid)
    assert swap_entries(userland, pid, heap, heap + 64 * PAGE) == slots
    assert swap_entries(userland, child, heap, heap + 64 * PAGE) == slots
    assert swap_stats(kernel)["cache_pages"] == 0
    assert machine.blockstats()["hdc"]["wr_operations"] == writes
    reads = machine.blockstats()["hdc"]["rd_operations"]
    machine.cont()
    verified(userland, [pid, child])
    assert machine.blockstats()["hdc"]["rd_operations"] - reads == 64, "the child's reads"


@pytest.mark.machine(modules=["user/swapper"], memory="32M", cmdline="aslr=off zswap_max=512",
                     disks=[SWAP_DISK])
def test_a_full_pool_writes_its_oldest_pages_back_to_their_slots(machine, userland, kernel):
    """A 512 KiB pool and about 35 MiB of text on 32 MiB: the pool fills and
    writes its oldest entries back to their disk slots (QEMU sees the writes),
    pages later come back from the disk as well as from the pool, and every
    byte is whole."""
    pids = [userland.spawn("swapper", f"3000 t {i}") for i in range(3)]
    before = machine.blockstats()["hdc"]
    userland.run()
    verified(userland, pids)
    z = dict(kernel.read_struct("zswap_stats", "zswap_stats"))
    s = swap_stats(kernel)
    after = machine.blockstats()["hdc"]
    assert z["max_bytes"] == 512 * 1024 and z["writebacks"] > 0
    assert after["wr_operations"] - before["wr_operations"] >= z["writebacks"]
    assert s["disk_reads"] > 0 and s["pool_loads"] > 0
    assert after["rd_operations"] - before["rd_operations"] == s["disk_reads"]


@pytest.mark.machine(modules=["user/swapper"], memory="32M", cmdline="aslr=off zswap=off fs=off",
                     disks=[DiskSpec("hdb", size="1M"),
                            DiskSpec("hdc", size="16M", errors=(DiskError("read"),))])
def test_a_swap_in_read_error_inside_a_system_call_ends_the_process_at_its_exit(
        machine, userland, kernel):
    """pread from /dev/hdb into a page that is in swap, every swap read
    failing: the kernel's copy faults (mode=kernel), takes the fixup, and
    the process is killed with reason swap-io on its way out of the system
    call, never returning from it; the read put its buffer back (none is held
    afterwards) and the kernel goes on."""
    pid = userland.spawn("swapper", "1 r 1 pd")
    userland.run()
    result = userland.history()[pid]
    assert (result.killed, result.reason) == (True, "swap-io")
    assert pid not in claims_of(userland)  # the call never returned to it
    fault = [r for r in machine.records("PF", since=0) if r["reason"] == "swap-io"]
    assert [(r["mode"], r["action"]) for r in fault] == [("kernel", "fixup")]
    assert held_buffers(machine, kernel) == []
    later = userland.spawn("swapper", "8 t 3")
    userland.run()
    assert results_of(userland, [later]) == {later: (False, 0)}
