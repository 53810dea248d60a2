"""Each AP's idle stack (kernel/smp.c) lives in the kernel half at its own
slot, CPU_STACK_PAGES mapped above an unmapped guard page, as a process's
kernel stack does: judged by the harness's walk of every CPU's own page
tables (each sees the same kernel half), the frames accounted for as the
invariants want.  An AP that recurses off its stack
runs into its guard page and ends in its own double-fault task, which names
the CPU whose stack overflowed; the panic parks the others."""

import pytest

from harness import GuestPanic
from harness.machine.qemu import EXIT_PANIC
from harness.targets.mmverify.invariants import violations

PAGE = 4096
CPU_STACK_AREA_BASE = 0xFFB00000  # include/memlayout.h
CPU_STACK_PAGES = 2               # include/kernel/smp.h
SLOT = (CPU_STACK_PAGES + 1) * PAGE


def guard_of(cpu):
    return CPU_STACK_AREA_BASE + cpu * SLOT


def smp(*counts):
    return [pytest.param(n, id=f"smp{n}", marks=pytest.mark.machine(smp=n)) for n in counts]


@pytest.mark.parametrize("count", smp(2, 4))
def test_each_ap_stack_sits_above_an_unmapped_guard_page(machine, kernel, count):
    size, base = kernel.sizeof("struct cpu"), machine.symbol("cpus")
    frames = set()
    for view in machine.cpus():
        for ap in range(1, count):
            guard = guard_of(ap)
            top = kernel.read_struct("cpu", base + ap * size)["stack_top"]
            assert top == guard + SLOT, f"CPU {ap}'s stack in its slot"
            assert view.translate(guard).pa is None, (
                f"CPU {view.index} sees CPU {ap}'s guard page unmapped")
            for va in range(guard + PAGE, top, PAGE):
                t = view.translate(va)
                assert t.pa is not None and t.write and not t.user, (
                    f"CPU {view.index}: {va:#x} mapped kernel-only and writable")
                frames.add(t.pa)
            assert view.translate(top).pa is None, "nothing directly above (the next guard)"
    assert len(frames) == CPU_STACK_PAGES * (count - 1), "a frame of its own for every page"
    # Where each AP rests: on its own stack, in ap_idle.
    for ap in range(1, count):
        esp = machine.on_cpu(ap).registers("esp")["esp"]
        assert guard_of(ap) + PAGE < esp <= guard_of(ap) + SLOT, f"CPU {ap} on its own stack"
    # Their frames are accounted like any kernel page (frame table, PMM).
    assert violations(kernel) == []


@pytest.mark.parametrize("count,victim", [
    pytest.param(2, 1, id="smp2-cpu1", marks=pytest.mark.machine(smp=2)),
    pytest.param(4, 3, id="smp4-cpu3", marks=pytest.mark.machine(smp=4)),
    pytest.param(4, 2, id="smp4-cpu2-icount", marks=pytest.mark.machine(smp=4, icount=True))])
def test_an_ap_stack_overflow_is_a_double_fault_naming_the_cpu(machine, count, victim):
    with pytest.raises(GuestPanic) as raised:
        machine.call("ipi_test_call_on", victim, machine.symbol("agent_overflow"))
    assert raised.value.exit_status == EXIT_PANIC
    panic = raised.value.panic
    assert panic["msg"].startswith(f"kernel stack overflow: cpu {victim} idle stack, eip=")
    assert (panic["where"], int(panic["cpu"])) == ("double_fault_task", victim)
    [df] = [r for r in machine.records("EXC") if r.int("vec") == 8]
    guard = guard_of(victim)
    assert guard <= df.int("esp") < guard + PAGE + 64, "the fault was in its guard page"
    [parked] = [r for r in machine.records("SMP") if "parked" in r.fields]
    assert (parked["parked"], parked.int("cpu")) == (
        hex(((1 << count) - 1) & ~(1 << victim)), victim)
