"""A kernel that stops making progress fails the test in seconds, naming
where it spins, instead of after Userland.run's timeout; programs that run
long in user mode and a kernel that keeps working are left alone
(harness/machine/progress.py).

The hangs are made on purpose: the harness writes a loop over the start of
a kernel function through GDB (the machine is restored from its snapshot
for the next test, text included).

The watch here looks twice as often and calls a kernel hung after half the
default stall: what is tested is how the watch tells a hang from work, not
how long it waits, and the suite's time is spent once per test.  Paging
plays no part in it, so the tests run once, with PAE paging, not in both
modes of the directory's matrix (tests/paging_matrix.py)."""

import time

import pytest

from harness.errors import GuestTimeout, HungGuest
from harness.machine.progress import PERIOD, STALL

pytestmark = pytest.mark.machine(modules=["user/*"], cmdline="aslr=off paging=pae")

QUICK = {"stall": STALL / 2, "period": PERIOD / 2}
# The whole wait for a hang: the stall, the look that sees it end, and room
# for a loaded machine.  Userland.run's own timeout is 60 s.
CAUGHT_WITHIN = QUICK["stall"] + 2 * QUICK["period"] + 3.0
# A wait that outlasts the stall by three looks: a hang would have been seen.
NOT_A_HANG_WITHIN = QUICK["stall"] + 3 * QUICK["period"]

INC_EAX_LOOP = bytes([0x40, 0xEB, 0xFD])  # 1: inc %eax; jmp 1b: registers change, nothing else


def inc_memory_loop(addr: int) -> bytes:
    """1: incl addr; jmp 1b: a kernel busy writing its data for ever."""
    return bytes([0xFF, 0x05]) + addr.to_bytes(4, "little") + bytes([0xEB, 0xF8])


def test_a_kernel_loop_in_a_system_call_fails_in_seconds_naming_where(machine, userland):
    shm_create = machine.symbol("shm_create")
    machine.write(shm_create, INC_EAX_LOOP)
    userland.spawn("pingpong", "ping 3")  # its first system call that loops is shm_create
    start = time.monotonic()
    with pytest.raises(HungGuest) as caught:
        userland.run(**QUICK)
    waited = time.monotonic() - start
    hung = caught.value
    assert waited < CAUGHT_WITHIN, f"caught after {waited:.1f} s"
    assert hung.stalled >= QUICK["stall"]
    assert hung.eip in (shm_create, shm_create + 1), f"{hung.eip:#x}"
    assert hung.where.startswith("shm_create"), hung.where
    assert "shm_create" in hung.backtrace[0] and "syscall_dispatch" in hung.backtrace[1], \
        hung.backtrace
    assert "spins at" in str(hung) and "shm_create" in str(hung)
    assert machine.broken is None, "the call was abandoned and the registers put back"


def test_a_kernel_loop_outside_a_process_is_caught_too(machine, userland):
    """The scheduler itself stuck (sched_run runs on the caller's stack, in
    the kernel's .bss for the boot stack): the pages around ESP are not
    counted as progress."""
    pick = machine.symbol("sched_run_reporting")
    machine.write(pick, INC_EAX_LOOP)
    userland.spawn("hello")
    start = time.monotonic()
    with pytest.raises(HungGuest) as caught:
        userland.run(**QUICK)
    assert time.monotonic() - start < CAUGHT_WITHIN
    assert caught.value.where.startswith("sched_run_reporting"), caught.value.where


def test_a_program_that_computes_for_ever_in_user_mode_is_not_a_hang(userland):
    """forever never makes a system call and, without preemption, the
    kernel never runs: only the wait's own timeout ends it."""
    userland.spawn("forever")
    with pytest.raises(GuestTimeout) as caught:
        userland.run(timeout=NOT_A_HANG_WITHIN, **QUICK)
    assert not isinstance(caught.value, HungGuest), str(caught.value)
    assert "did not return within" in caught.value.reason


def test_a_kernel_that_keeps_changing_its_data_is_not_a_hang(machine, userland):
    """A loop that writes the kernel's data is, to the watch, work in
    progress: it ends at the wait's timeout, not as a hang."""
    shm_create = machine.symbol("shm_create")
    machine.write(shm_create, inc_memory_loop(machine.symbol("agent_probe_value")))
    userland.spawn("pingpong", "ping 3")
    with pytest.raises(GuestTimeout) as caught:
        userland.run(timeout=NOT_A_HANG_WITHIN, **QUICK)
    assert not isinstance(caught.value, HungGuest), str(caught.value)
    assert machine.read_u32(machine.symbol("agent_probe_value")) > 1000, "it did loop"
