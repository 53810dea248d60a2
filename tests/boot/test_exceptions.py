"""Every exception is reported as one structured record before the panic."""

import pytest

from harness import GuestPanic
from harness.machine.qemu import EXIT_PANIC


def panic_from(call):
    with pytest.raises(GuestPanic) as info:
        call()
    assert info.value.exit_status == EXIT_PANIC
    return info.value


def test_general_protection_reports_vector_and_selector(machine):
    panic = panic_from(lambda: machine.call("agent_raise_gp", 0x80))
    exc = machine.records("EXC")[-1]
    assert exc.int("vec") == 13 and exc["name"] == "#GP"
    assert exc.int("err") == 0x80, "a bad selector load reports the selector"
    assert exc.int("cs") == 0x08
    assert "#GP" in panic.panic["msg"]


def test_invalid_opcode_has_no_error_code(machine):
    ud2 = machine.symbol("agent_raise_ud")
    panic_from(lambda: machine.call("agent_raise_ud"))
    exc = machine.records("EXC")[-1]
    assert exc.int("vec") == 6 and exc.int("err") == 0
    assert ud2 <= exc.int("eip") < ud2 + 16


def test_divide_error(machine):
    panic_from(lambda: machine.call("agent_divide", 10, 0))
    assert machine.records("EXC")[-1].int("vec") == 0


def test_kernel_page_fault_reports_cr2_and_error_code(machine):
    panic_from(lambda: machine.call("agent_read32", 0xDEAD0000))
    pf = machine.records("PF")[-1]
    assert pf.int("vec") == 14
    assert pf.int("addr") == 0xDEAD0000
    assert pf.int("err") == 0x0, "not present, read, supervisor"
    assert pf["mode"] == "kernel" and pf["action"] == "panic"


def test_write_fault_sets_the_write_bit(machine):
    panic_from(lambda: machine.call("agent_write32", 0xDEAD0000, 1))
    pf = machine.records("PF")[-1]
    assert pf.int("err") == 0x2 and pf["access"] == "write"


def test_fault_provoked_by_setting_eip_through_gdb(machine):
    """No kernel helper: point EIP at an unmapped page and let the CPU fetch."""
    machine.set_reg("eip", 0xDEAD0000)
    with pytest.raises(GuestPanic):
        machine.cont()
    pf = machine.records("PF")[-1]
    assert pf.int("addr") == 0xDEAD0000
    assert pf.int("eip") == 0xDEAD0000
