"""Spawn, wait, exit and the limits; after any number of spawn/exit cycles
the PMM and the heap are exactly where they were."""

import itertools

import pytest

pytestmark = pytest.mark.machine(modules=["user/*"])


def test_exit_status_reaches_the_parent_through_wait(machine, userland):
    pid = userland.spawn("spawner", "42")
    results = userland.run()
    assert results[pid].status == 0
    child = next(r for r in results.values() if r.name == "hello")
    assert child.status == 42
    rec = next(r for r in userland.claims("USER") if r["prog"] == "spawner")
    assert rec.int("status") == 42


def test_exit_status_of_a_direct_spawn(userland):
    pid = userland.spawn("hello", "5")
    assert userland.run()[pid].status == 5


def baseline(machine, kernel):
    machine.call("heap_trim")
    heap = kernel.heap_stats()
    return kernel.pmm_stats()["free_frames"], heap["bytes_mapped"], heap["live_blocks"]


def test_hundred_spawn_exit_cycles_leak_nothing(machine, userland, kernel):
    before = baseline(machine, kernel)
    pid = userland.spawn("cycler", "100 worker")
    results = userland.run(timeout=120)
    assert results[pid].status == 0
    assert next(r for r in userland.claims("USER") if r["prog"] == "cycler").int("ok") == 100
    assert baseline(machine, kernel) == before


def test_process_table_limit(machine, userland, kernel):
    """PROC_MAX (16) processes exactly; the 17th is refused with -EAGAIN and
    takes nothing: no frame, no heap, no directory, no pid, no record."""
    before = baseline(machine, kernel)
    pids = [userland.spawn("hello") for _ in range(16)]
    assert pids == list(range(1, 17))
    assert len(userland.processes()) == 16
    scratch = machine.symbol("agent_scratch")
    machine.write(scratch, b"hello\0")
    table = machine.read(machine.symbol("proc_table"), kernel.sizeof("proc_table"))
    full = baseline(machine, kernel), kernel.read_struct("vmm_stats", "vmm_stats")["directories"]
    mark = machine.mark()
    assert machine.call("proc_spawn", scratch, 0, 0) == -11, "-EAGAIN when full"
    assert machine.records("SPAWN", since=mark) == []
    assert machine.read(machine.symbol("proc_table"), kernel.sizeof("proc_table")) == table
    assert (baseline(machine, kernel),
            kernel.read_struct("vmm_stats", "vmm_stats")["directories"]) == full
    results = userland.run()
    assert set(results) == set(pids)
    assert userland.spawn("hello") == 17, "room again, and the refused spawn used no pid"
    userland.run()
    assert baseline(machine, kernel) == before


def test_live_processes_in_the_table(userland):
    pid = userland.spawn("hello")
    [info] = [p for p in userland.processes() if p.pid == pid]
    assert info.state == "ready" and info.name == "hello"
    assert info.cr3 % 4096 == 0 and info.pages >= 2
    assert 0x80000000 <= info.heap_base < info.shm_base < info.stack_top <= 0xC0000000
    userland.run()
    assert not [p for p in userland.processes() if p.pid == pid]


@pytest.mark.machine(modules=["user/*"], cmdline="preempt=on")
def test_timer_preemption_interleaves_processes_that_never_yield(machine, userland):
    a = userland.spawn("spinner", "4")
    b = userland.spawn("spinner", "4")
    userland.run(timeout=120)
    order = [r.int("pid") for r in userland.claims("USER") if r["prog"] == "spinner"]
    assert sorted(order) == sorted([a] * 4 + [b] * 4)
    switches = sum(1 for x, y in itertools.pairwise(order) if x != y)
    assert switches >= 2, f"the two took turns: {order}"


def test_without_preemption_a_spinner_runs_to_its_end(machine, userland):
    a = userland.spawn("spinner", "3")
    b = userland.spawn("spinner", "3")
    userland.run(timeout=120)
    order = [r.int("pid") for r in userland.claims("USER") if r["prog"] == "spinner"]
    assert order in ([a] * 3 + [b] * 3, [b] * 3 + [a] * 3)
