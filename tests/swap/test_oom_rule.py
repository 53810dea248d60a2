"""The OOM rule chooses one victim per shortage: while a victim chosen
earlier (not the allocating process) has yet to end and free its pages, a
failing allocation chooses no one else.  Set up from outside through GDB:
two processes spawned, the second marked as the victim on its way out, the
first made current, and every frame taken, on a machine without swap."""

import pytest

from tests.fs.test_pagecache import eat_frames_down_to

PROC_KILL_OOM = 2  # include/kernel/proc.h


def slot_of(machine, pid):
    return next(i for i in range(16) if int(machine.evaluate(f"proc_table[{i}].pid")) == pid)


@pytest.mark.machine(modules=["user/swapper"], cmdline="aslr=off zswap=off")
def test_a_second_shortage_waits_for_the_victim_already_leaving(machine, userland, kernel):
    a = slot_of(machine, userland.spawn("swapper", "1 z 1"))
    b = slot_of(machine, userland.spawn("swapper", "1 z 2"))
    machine.evaluate(f"proc_table[{b}].kill_pending = {PROC_KILL_OOM}")
    machine.evaluate(f"current = &proc_table[{a}]")
    runs = eat_frames_down_to(machine, kernel, 0)
    mark = machine.mark()
    assert machine.call("reclaim_user_frame") == 0
    assert machine.records("OOM", since=mark) == [], "the victim already leaving is enough"
    assert machine.evaluate("reclaim_victim_leaving") == "true", "the caller is told to wait"
    assert int(machine.evaluate(f"proc_table[{a}].kill_pending")) == 0

    # Once it has gone (nothing marked any more), the next shortage chooses:
    # the process with the most pages, here the current one (ties: the lower slot).
    machine.evaluate(f"proc_table[{b}].kill_pending = 0")
    assert machine.call("reclaim_user_frame") == 0
    [oom] = machine.records("OOM", since=mark)
    assert int(oom["pid"]) == int(machine.evaluate(f"proc_table[{a}].pid"))
    assert machine.evaluate("reclaim_victim_leaving") == "false", "current: its fault kills it"
    machine.evaluate("current = 0")
    for address, n in runs:
        machine.call("free_pages", address, n)
