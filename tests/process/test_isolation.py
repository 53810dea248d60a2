"""Two processes use the same virtual address and see different frames; a
breakpoint in user code, conditioned on CR3, stops in the right one; neither
can reach the other's memory by any pointer."""

import pytest

from harness import CallStopped
from harness.targets.mmverify.invariants import violations
from harness.targets.mmverify.kernel import Kernel
from tests.expected import KERNEL_BASE

pytestmark = pytest.mark.machine(modules=["user/*"], cmdline="aslr=off")


def start_two_and_stop_at_checkpoint(machine, userland):
    """Spawn two isolation processes and run until the first reaches its
    checkpoint.  Returns (pids, the first one's cr3, the breakpoint)."""
    pids = userland.spawn("isolation", "111"), userland.spawn("isolation", "222")
    checkpoint = userland.symbol("isolation", "checkpoint")
    bp = machine.break_at(checkpoint)
    with pytest.raises(CallStopped) as stopped:
        machine.call("sched_run")
    assert stopped.value.stop.addr == checkpoint
    return pids, machine.reg("cr3"), bp


@pytest.mark.machine(modules=["user/*"], cmdline="aslr=off")
def test_same_address_different_frames(machine, userland):
    (a, b), _, _ = start_two_and_stop_at_checkpoint(machine, userland)
    machine.cont()  # the second one reaches its checkpoint: both have written
    heap = userland.process(a).heap_base
    assert heap == userland.process(b).heap_base, "aslr=off: the same address"
    frame_a = userland.address_space(a).translate(heap).pa
    frame_b = userland.address_space(b).translate(heap).pa
    assert frame_a is not None and frame_b is not None and frame_a != frame_b
    assert userland.read(a, heap, 4) == (111).to_bytes(4, "little")
    assert userland.read(b, heap, 4) == (222).to_bytes(4, "little")
    assert violations(Kernel(machine)) == [], "two live processes, no frame in common"
    current = userland.process(a if machine.reg("cr3") == userland.process(a).cr3 else b)
    assert machine.read(heap, 4) == userland.read(current.pid, heap, 4), "GDB: current view"
    machine.delete_breakpoints()
    machine.cont()  # lets sched_run finish
    records = {r.int("pid"): r for r in userland.claims("USER") if r["prog"] == "isolation"}
    assert records[a]["intact"] == "1" and records[b]["intact"] == "1"


def test_breakpoint_conditioned_on_cr3_stops_in_that_process(machine, userland):
    (a, b), first_cr3, bp = start_two_and_stop_at_checkpoint(machine, userland)
    second = b if first_cr3 == userland.process(a).cr3 else a
    machine.delete_breakpoint(bp)
    checkpoint = userland.symbol("isolation", "checkpoint")
    cr3 = userland.process(second).cr3
    machine.break_at(checkpoint, condition=f"$cr3 == {cr3:#x}")
    stop = machine.cont()
    assert stop.addr == checkpoint and machine.reg("cr3") == cr3
    machine.delete_breakpoints()
    machine.cont()


def test_a_cr3_condition_filters_out_other_processes(machine, userland):
    """Conditioned on the process already past its checkpoint, the other's
    hit does not stop: the call runs to its end."""
    _, first_cr3, bp = start_two_and_stop_at_checkpoint(machine, userland)
    machine.delete_breakpoint(bp)
    machine.break_at(userland.symbol("isolation", "checkpoint"),
                     condition=f"$cr3 == {first_cr3:#x}")
    stop = machine.cont()
    assert stop.addr != userland.symbol("isolation", "checkpoint")
    assert machine.reg("eip") == machine.symbol("kernel_ready"), "the call finished"


def test_another_process_frame_is_out_of_reach(userland):
    """The only way to name another process's frame is through the kernel's
    direct map, which is supervisor-only."""
    owner = userland.spawn("isolation", "333")
    checkpoint = userland.symbol("isolation", "checkpoint")
    userland.m.break_at(checkpoint)
    with pytest.raises(CallStopped):
        userland.m.call("sched_run")
    heap = userland.process(owner).heap_base
    frame = userland.address_space(owner).translate(heap).pa
    userland.m.delete_breakpoints()
    userland.m.cont()

    spy = userland.spawn("probe", str(KERNEL_BASE + frame))
    same_va = userland.spawn("probe", str(heap))
    results = userland.run()
    assert (results[spy].reason, results[spy].addr) == ("kernel-address", KERNEL_BASE + frame)
    assert (results[same_va].reason, results[same_va].addr) == ("unmapped", heap)


def test_user_pages_are_user_and_the_kernel_half_is_not(userland):
    pid = userland.spawn("hello")
    aspace = userland.address_space(pid)
    user = [r for r in aspace.regions() if r.start < KERNEL_BASE]
    kernel = [r for r in aspace.regions() if r.start >= KERNEL_BASE]
    assert user and all(r.user for r in user)
    assert kernel and not any(r.user for r in kernel)
    assert aspace.translate(0).pa is None, "the null page"
    text = aspace.translate(userland.symbol("hello", "main"))
    assert text.user and not text.write, "text is read-only"
    userland.run()
