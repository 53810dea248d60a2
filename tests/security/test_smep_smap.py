"""SMEP and SMAP: on when the CPU has them (QEMU's -cpu max), reported
unavailable when not (-cpu qemu32); each attacked to show it works."""

import pytest

from harness import CallStopped, GuestPanic
from harness.machine.faults import expect_fault
from tests.expected import KERNEL_BASE

CR4_SMEP, CR4_SMAP = 1 << 20, 1 << 21
EFLAGS_AC = 1 << 18
SYS_GETPID = 9
IRQ_TIMER = 32
ENTRY_TRAPFRAME = "((struct trapframe *)*(unsigned *)($esp + 4))"  # a handler's argument


@pytest.mark.parametrize("cpu,expected", [("max", "on"), ("qemu32", "unavailable")])
def test_features_detected_and_reported(boot, cpu, expected):
    m = boot(cpu=cpu)
    m.run_to("kernel_ready")
    record = m.records("SECURITY")[0]
    assert record["smep"] == record["smap"] == expected
    cr4 = m.reg("cr4")
    assert bool(cr4 & CR4_SMEP) == bool(cr4 & CR4_SMAP) == (expected == "on")


def requires(machine, feature):
    if machine.records("SECURITY")[0][feature] != "on":
        pytest.skip(f"this CPU model has no {feature.upper()} (--cpu)")


@pytest.mark.machine(modules=["user/*"])
def test_smap_stops_a_plain_kernel_read_of_user_memory(machine, userland):
    requires(machine, "smap")
    pid = userland.spawn("isolation", "8")  # spawned, not run: its space is built
    directory = userland.process(pid).cr3 + KERNEL_BASE
    text = userland.symbol("isolation", "main")
    with expect_fault(machine, addr=text, present=True, user=False, write=False):
        assert machine.call("agent_read_user_in", directory, text, 0) == -14
    assert machine.call("agent_read_user_in", directory, text, 1) == 0, "copy_from_user may"
    value = machine.read_u32(machine.symbol("agent_probe_value"))
    assert value == int.from_bytes(userland.read(pid, text, 4), "little")
    userland.run()


@pytest.mark.machine(modules=["user/*"])
def test_smep_stops_the_kernel_executing_a_user_page(machine, userland):
    requires(machine, "smep")
    pid = userland.spawn("isolation", "9")
    directory = userland.process(pid).cr3 + KERNEL_BASE
    machine.call("switch_page_directory", directory)  # the call keeps CR3 switched
    user_code = userland.symbol("isolation", "main")
    machine.set_reg("eip", user_code)  # the CPU is in ring 0: CS is the kernel's
    with pytest.raises(GuestPanic), expect_fault(machine, addr=user_code, fetch=True,
                                                 present=True, user=False):
        machine.cont()
        machine.cont()  # from the handler's entry on: a kernel fault nothing expects
    pf = machine.records("PF")[-1]
    assert pf.int("err") & 0x10 and pf["access"] == "fetch" and pf["mode"] == "kernel"


def entry_trapframe(machine, kernel) -> dict:
    """The trap frame of a handler stopped at its first instruction."""
    return kernel.read_struct("trapframe", machine.read_u32(machine.reg("esp") + 4))


def back_in_ring3_with_ac(machine, userland, n: int) -> None:
    """Run to the program's checkpoint(n): the program's own EFLAGS.AC is back."""
    machine.delete_breakpoints()
    checkpoint = userland.symbol("acsyscall", "checkpoint")
    machine.break_at(checkpoint, condition=f"*(int *)($esp + 4) == {n}")  # its argument
    assert machine.cont().addr == checkpoint
    assert machine.reg("cs") & 3 == 3 and machine.reg("eflags") & EFLAGS_AC


def acsyscall_exit(machine, userland):
    machine.delete_breakpoints()
    machine.break_at("scenario_done")
    machine.cont()
    [result] = userland.history().values()
    return result


@pytest.mark.machine(modules=["user/*"], cmdline="run=acsyscall")
def test_a_system_call_made_with_ac_set_runs_with_smap_on(machine, kernel, userland):
    """Ring 3 can set EFLAGS.AC; the system call must not run with it: a plain
    kernel read of user memory inside the call faults."""
    requires(machine, "smap")
    machine.break_at("syscall_dispatch", condition=f"{ENTRY_TRAPFRAME}->eax == {SYS_GETPID}")
    assert machine.cont().addr == machine.symbol("syscall_dispatch")
    tf = entry_trapframe(machine, kernel)
    assert (tf["eax"], tf["cs"] & 3) == (SYS_GETPID, 3)
    assert tf["eflags"] & EFLAGS_AC, "the program made the call with AC set"
    assert not machine.reg("eflags") & EFLAGS_AC, "the kernel runs the call with AC clear"
    text = userland.symbol("acsyscall", "main")
    with expect_fault(machine, addr=text, present=True, user=False, write=False):
        assert machine.call("agent_probe_read", text) == -14
    back_in_ring3_with_ac(machine, userland, 1)
    result = acsyscall_exit(machine, userland)
    assert (result.name, result.killed, result.status) == ("acsyscall", False, 0)


@pytest.mark.machine(modules=["user/*"], cmdline="run=acsyscall")
def test_a_fault_inside_copy_from_user_is_handled_with_ac_clear(machine, kernel, userland):
    """copy_from_user opens user access (stac) and takes a demand fault on a
    fresh heap page: the fault handler runs with AC clear, and the copy goes
    on with user access open again after iret."""
    requires(machine, "smap")
    machine.break_at("page_fault_handler", condition=f"({ENTRY_TRAPFRAME}->cs & 3) == 0")
    assert machine.cont().addr == machine.symbol("page_fault_handler")
    [process] = userland.processes()
    assert machine.reg("cr2") == process.heap_base, "the kernel touched the untouched page"
    tf = entry_trapframe(machine, kernel)
    assert tf["eflags"] & EFLAGS_AC, "the copy had user access open"
    assert not machine.reg("eflags") & EFLAGS_AC, "the handler runs with AC clear"
    back_in_ring3_with_ac(machine, userland, 2)
    result = acsyscall_exit(machine, userland)
    assert (result.name, result.killed, result.status) == ("acsyscall", False, 0)
    [fault] = [f for f in kernel.fault_log() if f.fault.addr == process.heap_base]
    assert (fault.action, fault.fault.user) == ("resolved", False)


@pytest.mark.machine(modules=["user/*"], cmdline="run=acsyscall")
def test_a_fault_from_ring3_with_ac_set_is_handled_with_ac_clear(machine, kernel, userland):
    requires(machine, "smap")
    machine.break_at("page_fault_handler", condition=(
        f"({ENTRY_TRAPFRAME}->cs & 3) == 3 && ({ENTRY_TRAPFRAME}->eflags & {EFLAGS_AC})"))
    assert machine.cont().addr == machine.symbol("page_fault_handler")
    [process] = userland.processes()
    assert machine.reg("cr2") == process.heap_base + 4096, "the touch of the second page"
    assert not machine.reg("eflags") & EFLAGS_AC, "the handler runs with AC clear"
    result = acsyscall_exit(machine, userland)
    assert (result.name, result.killed, result.status) == ("acsyscall", False, 0)


@pytest.mark.machine(modules=["user/*"], cmdline="preempt=on")
def test_a_timer_tick_in_ring3_with_ac_set_is_handled_with_ac_clear(machine, kernel, userland):
    requires(machine, "smap")
    pid = userland.spawn("acsyscall", "spin")  # spins with AC set until released
    machine.break_at("trap", condition=(
        f"{ENTRY_TRAPFRAME}->vector == {IRQ_TIMER} && ({ENTRY_TRAPFRAME}->cs & 3) == 3"
        f" && ({ENTRY_TRAPFRAME}->eflags & {EFLAGS_AC})"))
    with pytest.raises(CallStopped) as stopped:
        machine.call("sched_run")
    assert stopped.value.stop.addr == machine.symbol("trap")
    assert entry_trapframe(machine, kernel)["eip"] < 0x80000000, "ring 3 code was interrupted"
    assert not machine.reg("eflags") & EFLAGS_AC, "the interrupt runs with AC clear"
    userland.write(pid, userland.symbol("acsyscall", "released"), (1).to_bytes(4, "little"))
    machine.delete_breakpoints()
    machine.cont()  # sched_run finishes
    result = userland.history()[pid]
    assert (result.name, result.killed, result.status) == ("acsyscall", False, 0)


@pytest.mark.machine(modules=["user/*"], cpu="max")
def test_a_kernel_read_stopped_by_smap_is_recorded_as_user_access(machine, userland):
    """On a CPU with SMAP whatever --cpu says: the fault of a plain kernel
    read of a user page is fixed up and recorded with its reason."""
    requires(machine, "smap")
    pid = userland.spawn("isolation", "8")
    directory = userland.process(pid).cr3 + KERNEL_BASE
    text = userland.symbol("isolation", "main")
    mark = machine.mark()
    assert machine.call("agent_read_user_in", directory, text, 0) == -14
    [pf] = machine.records("PF", since=mark)
    assert (pf.int("addr"), pf["mode"], pf["action"], pf["reason"]) == (
        text, "kernel", "fixup", "user-access")
    userland.run()
