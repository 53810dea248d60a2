"""waitpid(pid or -1, &status): which child it returns and the status it
writes, read from the program's memory (its `got` array) at its checkpoint,
checked against the kernel's EXIT records."""

import struct

import pytest

from harness import CallStopped

pytestmark = pytest.mark.machine(modules=["user/*"], cmdline="aslr=off")

ECHILD, EINVAL = -10, -22
NOT_WRITTEN = -1000  # waiter's status before the call


def waiter_results(machine, userland, mode):
    """Run `waiter MODE` to its checkpoint: (its pid, the (rc, status) pairs
    it got, the EXIT records of the run so far by pid)."""
    mark = machine.mark()
    pid = userland.spawn("waiter", mode)
    machine.break_at(userland.symbol("waiter", "checkpoint"),
                     condition=f"$cr3 == {userland.process(pid).cr3:#x}")
    with pytest.raises(CallStopped):
        machine.call("sched_run")
    raw = userland.read(pid, userland.symbol("waiter", "got"), 16 * 4)
    values = struct.unpack("<16i", raw)
    pairs = [(values[i], values[i + 1]) for i in range(0, 16, 2)]
    exits = {r.int("pid"): r for r in machine.records("EXIT", since=mark)}
    machine.delete_breakpoints()
    machine.cont()
    assert userland.history()[pid].status == 0
    return pid, pairs, exits


def test_waitpid_any_returns_each_child_once_in_the_order_they_ended(machine, userland):
    pid, pairs, exits = waiter_results(machine, userland, "any")
    children = sorted(p for p in exits if p != pid)
    assert len(children) == 3
    order = list(exits)  # EXIT records in the order the children ended
    assert pairs[:4] == [(c, exits[c].int("status")) for c in order] + [(ECHILD, NOT_WRITTEN)]
    assert sorted(s for _, s in pairs[:3]) == [11, 12, 13]


def test_waitpid_for_a_specific_child_waits_for_that_one(machine, userland):
    pid, pairs, exits = waiter_results(machine, userland, "specific")
    first, second = sorted(p for p in exits if p != pid)
    assert pairs[:3] == [(second, 22), (first, 21), (ECHILD, NOT_WRITTEN)]


def test_a_killed_child_has_status_minus_one(machine, userland):
    pid, pairs, exits = waiter_results(machine, userland, "killed")
    [child] = [p for p in exits if p != pid]
    assert exits[child]["reason"] == "null-pointer"
    assert pairs[0] == (child, -1)


def test_a_child_that_ended_before_the_call_is_found_once(machine, userland):
    pid, pairs, exits = waiter_results(machine, userland, "ended")
    [child] = [p for p in exits if p != pid]
    assert pairs[:2] == [(child, 5), (ECHILD, NOT_WRITTEN)]


def test_no_child_is_echild_and_pid_zero_is_einval(machine, userland):
    _, pairs, _ = waiter_results(machine, userland, "none")
    assert pairs[:3] == [(ECHILD, NOT_WRITTEN)] * 2 + [(EINVAL, NOT_WRITTEN)]


def test_waitpid_does_not_return_another_process_child(machine, userland):
    """Two waiters, each with children: each gets only its own."""
    a = userland.spawn("waiter", "specific")
    b = userland.spawn("waiter", "specific")
    results = userland.run()
    assert (results[a].status, results[b].status) == (0, 0)
    assert sorted(r.status for p, r in results.items() if p not in (a, b)) == [21, 21, 22, 22]



def test_a_bad_status_pointer_is_efault_and_the_child_stays_unwaited(machine, userland):
    pid, pairs, exits = waiter_results(machine, userland, "badptr")
    [child] = [p for p in exits if p != pid]
    assert pairs[:2] == [(-14, NOT_WRITTEN), (child, 3)]
