"""RAM above 4 GiB backs user memory (PAE only).  On a 6 GiB machine a loop
of processes touches 3.5 GiB worth of heap pages over its lifetime, more
than the 3 GiB above 4 GiB, so frames a process failed to give back would
push the last ones below 4 GiB; user frames
come from above 4 GiB first, so every one of them lies there: the walker
shows each page's frame, and the word the process wrote is in that frame of
the RAM file."""

import pytest

from harness import CallStopped
from harness.targets.mmverify.invariants import violations
from tests.boot.test_high_ram import GIB, HIGH
from tests.boot.test_high_ram import pytestmark as high_ram_marks

PAGES = 3584                        # fill's default: 14 MiB, within PROC_MAX_PAGES
SPAWNS = (7 * GIB // 2) // (PAGES << 12)  # 256 processes, 3.5 GiB of touched pages

pytestmark = [*high_ram_marks, pytest.mark.cold_boot,
              pytest.mark.machine(memory="6G", modules=["user/cycler", "user/fill"],
                                  cmdline="paging=pae aslr=off")]


def heap_frames(userland, pid):
    """(page, frame) of every heap page of pid, from the walker."""
    proc = userland.process(pid)
    aspace = userland.address_space(pid)
    return [(page, aspace.translate(proc.heap_base + page * 4096).pa) for page in range(PAGES)]


def check_fill(machine, userland, pid):
    frames = heap_frames(userland, pid)
    assert all(pa is not None and pa >= HIGH for _, pa in frames), \
        [f"{page}: {pa}" for page, pa in frames if pa is None or pa < HIGH][:5]
    for page, pa in frames:
        assert machine.read_phys_u32(pa) == pid * 0x10000 + page


def stop_in_fill(machine, userland):
    """A breakpoint at fill's checkpoint, in fill only: the address may be code
    of the cycler too."""
    machine.break_at(userland.symbol("fill", "checkpoint"),
                     condition='$_streq(current->name, "fill")')


def test_user_pages_live_above_4_gib(machine, userland, kernel):
    before = kernel.fault_stats()["by_action"][0]
    stop_in_fill(machine, userland)
    cycler = userland.spawn("cycler", f"{SPAWNS} fill")
    with pytest.raises(CallStopped):
        machine.call("sched_run", timeout=120)
    first = next(p.pid for p in userland.processes() if p.name == "fill")
    check_fill(machine, userland, first)
    # every high frame a process maps is one the PMM's bitmap has in use
    assert violations(kernel) == []
    machine.delete_breakpoints()
    machine.cont(timeout=600)
    # the kernel's EXIT records: its history table keeps only the last 32
    results = userland.results_from_log()
    assert results[cycler].status == 0, "every fill ended with status 0"
    fills = [r for r in results.values() if r.name == "fill"]
    assert len(fills) == SPAWNS and all(r.status == 0 for r in fills)
    assert kernel.fault_stats()["by_action"][0] - before >= SPAWNS * PAGES, \
        "one resolved demand fault per touched page at least"

    last = userland.spawn("fill")  # and the frames handed out after all that
    stop_in_fill(machine, userland)
    with pytest.raises(CallStopped):
        machine.call("sched_run")
    check_fill(machine, userland, last)
    machine.delete_breakpoints()
    machine.cont()
    assert userland.history()[last].status == 0
