"""Breakpoints when every CPU runs the same kernel code: each CPU's LAPIC
timer (lapic_timer=on) enters lapic_timer_irq on its own, so a breakpoint
there is hit by CPU 0 and CPU 1 in turns.

machine.run_to stops on CPU 0 unless told otherwise, because the machine's
registers and memory are CPU 0's: a stop on CPU 1 would leave the caller
reading CPU 0 somewhere else.  Judged by GDB's thread of the stop and by
each CPU's own EIP."""

import pytest

from harness import CallStopped

TIMER_CPUS = pytest.mark.machine(smp=2, cpu="max", icount=True, cmdline="lapic_timer=on")
STOPS = 6  # with both CPUs ticking, an unpinned breakpoint is soon hit by CPU 1
WAIT_TICKS = 20  # more than the stops on CPU 0 (each a tick of its own)


def stopped_in_a_wait(machine):
    """CPU 0 inside a call that sleeps on its timer (interrupts on), CPU 1 in
    its idle loop, both taking ticks: the call is stopped at CPU 1's first."""
    number = machine.break_at("lapic_timer_irq", cpu=1)
    with pytest.raises(CallStopped) as stopped:
        machine.call("lapic_timer_wait", WAIT_TICKS)
    assert stopped.value.stop.cpu == 1
    machine.delete_breakpoint(number)


@TIMER_CPUS
def test_run_to_stops_on_cpu0_by_default(machine):
    stopped_in_a_wait(machine)
    handler = machine.symbol("lapic_timer_irq")
    for _ in range(STOPS):
        stop = machine.run_to("lapic_timer_irq")
        assert (stop.cpu, stop.addr, machine.registers("eip")["eip"]) == (0, handler, handler)


@TIMER_CPUS
def test_run_to_stops_on_the_cpu_it_is_given(machine):
    stopped_in_a_wait(machine)
    handler = machine.symbol("lapic_timer_irq")
    for _ in range(STOPS):
        stop = machine.run_to("lapic_timer_irq", cpu=1)
        assert (stop.cpu, machine.on_cpu(1).registers("eip")["eip"]) == (1, handler)
        assert machine.registers("eip")["eip"] != handler, "CPU 0 is elsewhere: in its wait"


@TIMER_CPUS
def test_run_to_any_cpu_stops_on_both_in_turn(machine):
    stopped_in_a_wait(machine)
    handler = machine.symbol("lapic_timer_irq")
    seen = set()
    for _ in range(STOPS):
        stop = machine.run_to("lapic_timer_irq", cpu=None)
        assert machine.on_cpu(stop.cpu).registers("eip")["eip"] == handler
        seen.add(stop.cpu)
    assert seen == {0, 1}


@TIMER_CPUS
def test_the_call_ends_on_cpu0_after_stops_on_cpu1(machine):
    """The pending call survives stops on CPU 1 and ends on CPU 0 with its
    result (the ticks it waited for), EIP back where it was before the call."""
    eip = machine.registers("eip")["eip"]
    stopped_in_a_wait(machine)
    for _ in range(2):
        machine.run_to("lapic_timer_irq", cpu=1)
    stop = machine.cont()
    assert (stop.cpu, stop.addr) == (0, machine.symbol("agent_call_done"))
    assert machine.registers("eip")["eip"] == eip
    assert machine.read_u32(machine.symbol("agent_call_result")) == WAIT_TICKS
    assert machine.call_value("lapic_timer_wait", 1) == 1, "no call is left pending"
