"""Each test gets a pristine machine; a broken one never leaks into the next."""

import pytest

from harness import GuestPanic, GuestTimeout, MachineDied
from harness.pytest_plugin import machine_config


@pytest.fixture
def cfg(request, firmware):
    return machine_config(request, firmware)


def test_restore_undoes_memory_registers_breakpoints_and_watchpoints(machine_pool, cfg):
    m = machine_pool.acquire(cfg)
    scratch = m.symbol("agent_scratch")
    before = m.read(scratch, 16)
    m.write(scratch, b"x" * 16)
    m.set_reg("eax", 0xFEEDF00D)
    m.break_at("agent_nop")
    m.watch(f"*(int *){scratch:#x}")
    m = machine_pool.acquire(cfg)
    assert m.read(scratch, 16) == before
    assert m.reg("eax") != 0xFEEDF00D
    assert m.gdb.command("-break-list").payload["BreakpointTable"]["body"] == []
    assert m.call("agent_nop", 3) == 3, "no stale breakpoint stops the call"


def test_serial_log_is_split_per_test(machine_pool, cfg):
    m = machine_pool.acquire(cfg)
    mark = m.mark()
    with pytest.raises(GuestPanic):
        m.call("agent_raise_ud")
    assert [r.tag for r in m.records(since=mark)] == ["EXC", "PANIC"]
    assert m.records("BOOT"), "the whole log is still there"


def test_panicked_machine_is_replaced(machine_pool, cfg):
    m = machine_pool.acquire(cfg)
    with pytest.raises(GuestPanic):
        m.call("agent_raise_ud")
    machine_pool.release(m)
    boots = machine_pool.boots
    fresh = machine_pool.acquire(cfg)
    assert fresh is not m and machine_pool.boots == boots + 1
    assert fresh.call("agent_nop", 1) == 1


def test_triple_faulted_machine_is_replaced(machine_pool, cfg):
    m = machine_pool.acquire(cfg)
    with pytest.raises(MachineDied) as info:
        m.call("agent_triple_fault")
    assert info.value.guest_exit == "reset"
    machine_pool.release(m)
    assert machine_pool.acquire(cfg).call("agent_nop", 2) == 2


def test_hung_guest_is_stopped_and_reused(machine_pool, cfg):
    m = machine_pool.acquire(cfg)
    m.cont(wait=False)  # the guest spins in its idle loop
    with pytest.raises(GuestTimeout):
        m.wait_stopped(timeout=0.3)
    machine_pool.release(m)
    assert machine_pool.acquire(cfg) is m, "an interruptible machine is kept"


def test_machine_whose_gdb_died_is_replaced(machine_pool, cfg):
    import os
    import signal

    m = machine_pool.acquire(cfg)
    os.kill(m.gdb.pid, signal.SIGKILL)
    machine_pool.release(m)
    fresh = machine_pool.acquire(cfg)
    assert fresh is not m and fresh.call("agent_nop", 4) == 4


def test_different_configurations_get_their_own_snapshot(machine_pool, request, firmware):
    small = machine_pool.acquire(machine_config(request, firmware, memory="32M"))
    small_id = id(small)
    other = machine_pool.acquire(machine_config(request, firmware, cmdline="fault_log=all"))
    assert other is not small
    assert "fault_log=all" in other.records("CMDLINE")[0]["raw"]
    assert id(machine_pool.acquire(machine_config(request, firmware, memory="32M"))) == small_id


@pytest.mark.machine(icount=True)
def test_icount_makes_guest_runs_repeatable(machine, machine_pool, request, firmware):
    first = machine.call("agent_count_loop", 1000)
    second = machine.call("agent_count_loop", 1000)
    assert first == second
    again = machine_pool.boot_to_ready(machine_config(request, firmware, icount=True))
    try:
        assert again.call("agent_count_loop", 1000) == first, "the same on a fresh boot"
    finally:
        machine_pool.close_machine(again)
