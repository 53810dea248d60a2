"""The harness fails clearly, and in time, when the machine misbehaves."""

import os
import signal
import time

import pytest

from harness import GdbError, GuestTimeout, MachineDied, TargetStateError


def test_guest_never_reaching_a_symbol_names_it(machine):
    start = time.monotonic()
    with pytest.raises(GuestTimeout) as info:
        machine.run_to("agent_never_called", timeout=0.5)
    assert time.monotonic() - start < 5
    assert "agent_never_called" in str(info.value)
    assert "READY" in info.value.serial_tail
    assert machine.call("agent_nop", 5) == 5, "the machine is usable afterwards"


def test_hung_inferior_call_times_out_and_is_unwound(machine):
    eip = machine.reg("eip")
    with pytest.raises(GuestTimeout) as info:
        machine.call("agent_spin", timeout=0.5)
    assert "agent_spin" in str(info.value)
    assert machine.reg("eip") == eip, "the call frame was unwound"
    assert machine.call("agent_nop", 9) == 9


def test_reading_while_running_is_refused(machine):
    machine.cont(wait=False)
    with pytest.raises(TargetStateError, match="running"):
        machine.read(machine.symbol("agent_scratch"), 4)
    machine.interrupt()
    assert machine.read(machine.symbol("agent_scratch"), 4)


def test_qemu_dying_mid_test_raises_machine_died(machine):
    machine.cont(wait=False)
    os.kill(machine.qemu.proc.pid, signal.SIGKILL)
    with pytest.raises(MachineDied) as info:
        machine.wait_stopped(timeout=5)
    assert info.value.exit_status == -signal.SIGKILL
    with pytest.raises(TargetStateError, match="gone"):
        machine.read(0xC0100000, 4)


def test_gdb_dying_mid_test_raises_gdb_error(machine):
    os.kill(machine.gdb.pid, signal.SIGKILL)
    with pytest.raises(GdbError, match="gdb exited"):
        machine.read(0xC0100000, 4)


def test_call_value_of_a_void_function_is_refused_before_the_call(machine):
    from harness import ArgumentError

    eip = machine.reg("eip")
    with pytest.raises(ArgumentError, match=r"kfree\(\) returns void: use machine.call"):
        machine.call_value("kfree", 0)
    assert machine.reg("eip") == eip
    assert machine.call_value("agent_nop", 3) == 3
