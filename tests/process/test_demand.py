"""Demand paging: heap pages appear only when touched, one fault each."""

import itertools

import pytest

from harness import CallStopped
from harness.targets.mmverify.invariants import violations
from harness.targets.mmverify.kernel import Kernel

pytestmark = pytest.mark.machine(modules=["user/*"], cmdline="aslr=off")


@pytest.mark.machine(modules=["user/*"], cmdline="aslr=off")
def test_pages_appear_on_first_touch_one_fault_each(machine, userland):
    pages = 4
    pid = userland.spawn("demand", str(pages))
    cr3 = userland.process(pid).cr3
    machine.break_at(userland.symbol("demand", "checkpoint"), condition=f"$cr3 == {cr3:#x}")
    seen = []
    try:
        machine.call("sched_run")
    except CallStopped:
        pass
    for i in range(pages + 1):
        proc = userland.process(pid)
        aspace = userland.address_space(pid)
        mapped = [aspace.translate(proc.heap_base + n * 4096).pa is not None
                  for n in range(pages)]
        assert mapped == [n < i for n in range(pages)], f"at checkpoint {i}"
        assert violations(Kernel(machine)) == [], f"at checkpoint {i}"
        seen.append(proc.demand_faults)
        machine.cont()
    assert [b - a for a, b in itertools.pairwise(seen)] == [1] * pages, \
        "exactly one fault per first touch"
    assert userland.history()[pid].status == 0


def test_resolved_faults_are_counted_not_printed(machine, userland, kernel):
    before = kernel.fault_stats()
    mark = machine.mark()
    pid = userland.spawn("demand", "8")
    userland.run()
    after = kernel.fault_stats()
    resolved = after["by_action"][0] - before["by_action"][0]
    assert resolved >= 8
    assert not [r for r in machine.records("PF", since=mark) if r.int("pid") == pid]


@pytest.mark.machine(modules=["user/*"], cmdline="aslr=off fault_log=all")
def test_fault_log_all_prints_resolved_faults(machine, userland):
    mark = machine.mark()
    pid = userland.spawn("demand", "2")
    userland.run()
    demand = [r for r in machine.records("PF", since=mark)
              if r.int("pid") == pid and r["reason"] == "demand-page"]
    assert len(demand) == 2 and all(r["action"] == "resolved" for r in demand)


@pytest.mark.machine(modules=["user/*"], cmdline="aslr=off fault_log=all")
def test_the_stack_grows_one_page_per_fault_down_to_its_guard(machine, userland):
    """stackoverflow touches every page of its 1 MiB stack on the way down:
    one resolved stack-growth fault for each page but the first (mapped at
    spawn), then the guard page kills it."""
    mark = machine.mark()
    pid = userland.spawn("stackoverflow")
    proc = userland.process(pid)
    userland.run()
    faults = [(r["reason"], r["action"], r.int("addr") & ~0xFFF)
              for r in machine.records("PF", since=mark) if r.int("pid") == pid]
    pages = range(proc.stack_top - 2 * 4096, proc.stack_limit - 1, -4096)
    assert faults[:-1] == [("stack-growth", "resolved", page) for page in pages]
    assert faults[-1][:2] == ("stack-overflow", "kill")
