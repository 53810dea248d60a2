"""Kernel stacks sit above unmapped guard pages; an overflow ends in the
double-fault task's report and a clean halt (QEMU's panic status), never a
triple-fault reset.  The stack protector catches a smashed canary."""

import pytest

from harness import GuestPanic
from harness.machine.qemu import EXIT_PANIC

pytestmark = pytest.mark.machine(modules=["user/*"])


def test_every_kernel_stack_has_a_guard_page(machine, userland):
    pids = [userland.spawn("hello") for _ in range(3)]
    aspace = machine.address_space()
    guard = machine.symbol("boot_stack_guard")
    assert aspace.translate(guard).pa is None
    assert aspace.translate(guard + 4096).pa is not None
    for pid in pids:
        top = userland.process(pid).kstack_top
        base = top - 2 * 4096
        assert aspace.translate(base).pa is not None and aspace.translate(top - 4).pa
        assert aspace.translate(base - 4096).pa is None, f"pid {pid}: guard below its stack"
    userland.run()


def test_boot_stack_overflow_ends_in_the_double_fault_report(machine):
    guard = machine.symbol("boot_stack_guard")  # asked before the kernel is gone
    with pytest.raises(GuestPanic) as info:
        machine.call("agent_recurse", 10_000)
    assert info.value.exit_status == EXIT_PANIC, "a clean halt, not a reset"
    assert info.value.panic["msg"].startswith("kernel stack overflow: boot stack")
    df = [r for r in machine.records("EXC") if r.int("vec") == 8]
    assert df, "reported by the double-fault task"
    assert guard <= df[-1].int("esp") < guard + 4096 + 64


def test_a_smashed_canary_is_reported(machine):
    guard = machine.read_u32(machine.symbol("__stack_chk_guard"))
    assert guard not in (0, 0xE2A1C0DE), "chosen at boot, not the link-time value"
    machine.break_at("agent_canary_hook")
    from harness import CallStopped

    with pytest.raises(CallStopped):
        machine.call("agent_canary_victim")
    machine.delete_breakpoints()
    esp = machine.reg("esp")
    stack = machine.read(esp, 256)
    words = [int.from_bytes(stack[i:i + 4], "little") for i in range(0, 256, 4)]
    slot = esp + 4 * words.index(guard)  # the victim's canary, just above the hook's frame
    machine.write_u32(slot, guard ^ 0xFFFFFFFF)
    with pytest.raises(GuestPanic) as info:
        machine.cont()
    assert info.value.panic["msg"].startswith("stack protector: a smashed canary")


@pytest.mark.parametrize("victim", [0, 1])
def test_a_process_kernel_stack_overflow_names_the_process(machine, userland, victim):
    """The kernel recursing on a process's kernel stack (the harness points
    ESP there before the call) runs into that stack's guard page: the
    double-fault task names the process, whichever table slot it is in."""
    pids = [userland.spawn("hello") for _ in range(2)]
    info = userland.process(pids[victim])
    guard = info.kstack_top - 3 * 4096
    machine.set_reg("esp", info.kstack_top - 64)
    with pytest.raises(GuestPanic) as raised:
        machine.call("agent_recurse", 10_000)
    assert raised.value.exit_status == EXIT_PANIC
    assert raised.value.panic["msg"].startswith(
        f"kernel stack overflow: pid {pids[victim]} (hello), eip=")
    df = [r for r in machine.records("EXC") if r.int("vec") == 8]
    assert guard <= df[-1].int("esp") < guard + 4096 + 64
