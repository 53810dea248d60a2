"""A panic on any CPU parks every other one (kernel/panic.c, ipi.c): an NMI
to each, which each takes even with interrupts off, and each halts for good
inside its NMI handler.  Judged from outside at panic_exit, where the
panicking CPU stops the machine: QEMU and GDB show every other CPU halted in
halt_forever under panic_park, its struct cpu says parked, and the records
name the CPU that panicked and the CPUs it parked.  CPU 0 is caught spinning
with interrupts off (as on a lock), where an ordinary IPI would never
reach it."""

import re

import pytest

from harness import CallStopped, GuestPanic
from harness.machine.qemu import EXIT_PANIC


def machines():
    return [pytest.param(n, cpu, id=f"smp{n}-cpu{cpu}" + ("-icount" if icount else ""),
                         marks=pytest.mark.machine(smp=n, icount=icount))
            for n, cpu, icount in ((2, 1, False), (4, 2, False), (4, 0, False), (2, 1, True))]


SENDING = {"ipi_test_call_on", "ipi_send", "lapic_send"}
# GDB's name for a frame whose call-frame information marks it a signal frame:
# the trapframe isr.S leaves (firmware/arch/i386/isr.S).
TRAP_FRAME = "<signal handler called>"


def function_of(machine, address):
    """The kernel function an address is in, by GDB's symbols."""
    return re.search(r"<(\w+)", machine.evaluate(f"(void *) {address:#x}"))[1]


@pytest.mark.parametrize("count,victim", machines())
def test_a_panic_parks_every_other_cpu_where_it_stood(machine, kernel, count, victim):
    exit_address = machine.symbol("panic_exit")
    machine.break_at(exit_address)
    with pytest.raises(CallStopped):
        machine.call("ipi_test_call_on", victim, machine.symbol("ipi_test_panic"))
    views = machine.cpus()
    assert views[victim].registers("eip")["eip"] == exit_address, "the panicking CPU's stop"
    size, base = kernel.sizeof("struct cpu"), machine.symbol("cpus")
    for view in views:
        cpu = kernel.read_struct("cpu", base + view.index * size)
        if view.index == victim:
            assert cpu["parked"] == 0
            continue
        assert cpu["parked"] == 1, f"CPU {view.index} says it is parked"
        assert view.halted, f"CPU {view.index} halted"
        trace = view.backtrace()
        frames = [f.get("func") for f in trace]
        assert frames[:5] == ["halt", "halt_forever", "panic_park", "trap", TRAP_FRAME], (
            f"CPU {view.index} in its NMI handler: {frames}")
        # isr.S's call-frame information takes the debugger through the NMI's
        # trapframe to the very instruction the kernel says it interrupted.
        assert int(trace[5]["addr"], 16) == cpu["parked_at"], (
            f"CPU {view.index} unwinds to {trace[5]}")
        # Where the NMI found it: CPU 0 in the test's call, spinning for the
        # ack (or, if its host thread had no turn since, still sending the
        # IPI), every AP idle.
        expected = SENDING if view.index == 0 else {"ap_idle"}
        assert function_of(machine, cpu["parked_at"]) in expected, f"CPU {view.index}"
    [panic] = machine.records("PANIC")
    assert (panic["where"], panic["msg"], panic.int("cpu")) == (
        "ipi_test_panic", f"test panic on cpu {victim}", victim)
    [parked] = [r for r in machine.records("SMP") if "parked" in r.fields]
    others = ((1 << count) - 1) & ~(1 << victim)
    assert (parked["parked"], parked.int("cpu")) == (hex(others), victim)
    machine.delete_breakpoints()
    with pytest.raises(GuestPanic) as info:
        machine.cont()
    assert info.value.exit_status == EXIT_PANIC


@pytest.mark.machine(smp=1)
def test_a_panic_with_one_cpu_parks_nothing(machine):
    with pytest.raises(GuestPanic):
        machine.call("ipi_test_call_on", 0, machine.symbol("ipi_test_panic"))
    [panic] = machine.records("PANIC")
    assert panic.int("cpu") == 0
    assert not [r for r in machine.records("SMP") if "parked" in r.fields]
