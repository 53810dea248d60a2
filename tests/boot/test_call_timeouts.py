"""A call that does not return in time leaves the machine as it was before
the call, or marked broken so the pool replaces it; never half restored."""

import os
import signal
import threading
import time

import pytest

from harness import GuestTimeout, TargetStateError, timeouts

JMP_SELF = b"\xeb\xfe"  # jmp $: a user program that spins in ring 3, no system calls


def spin_in_user_mode(userland):
    """A process whose main() is an endless loop in ring 3."""
    pid = userland.spawn("spinner")
    userland.write(pid, userland.symbol("spinner", "main"), JMP_SELF)
    return pid


def qemu_cpl(machine) -> int:
    """The privilege level QEMU itself reports for the CPU."""
    line = next(line for line in machine.monitor("info registers").splitlines() if "CPL=" in line)
    return int(line.split("CPL=")[1].split()[0])


@pytest.mark.machine(modules=["user/*"], cmdline="aslr=off")
def test_a_call_timing_out_in_user_mode_restores_every_register(machine, userland, kernel):
    spin_in_user_mode(userland)
    before = machine.registers()  # every integer register, control and segment ones included
    faults = kernel.fault_stats()["total"]
    with pytest.raises(GuestTimeout) as info:
        machine.call("sched_run", timeout=0.5)
    assert machine.registers() == before
    assert "sched_run() did not return within 0.5 s" in info.value.reason
    assert "every register restored" in info.value.reason
    assert qemu_cpl(machine) == 0, "QEMU's CPU is back in ring 0"
    assert machine.call("agent_nop", 3) == 3
    # Resuming runs the kernel from where the call began, not the user
    # program's loop at CPL 0 or the kernel at CPL 3 (a fault and a kill).
    mark = machine.mark()
    machine.cont(wait=False)
    machine.gdb.pump_for(0.2)
    machine.interrupt()
    assert machine.records("PF", since=mark) == []
    assert machine.records("EXIT", since=mark) == []
    assert kernel.fault_stats()["total"] == faults


@pytest.mark.machine(modules=["user/*"], cmdline="aslr=off")
def test_a_call_that_cannot_be_interrupted_marks_the_machine_broken(machine, userland,
                                                                     machine_pool, monkeypatch):
    spin_in_user_mode(userland)
    monkeypatch.setattr(timeouts, "COMMAND", 0.5)  # how long an interrupt may take to stop it
    qemu = machine.qemu.proc.pid

    def freeze_once_running():
        # QEMU frozen while the guest runs: GDB's interrupt never gets an answer.
        deadline = time.monotonic() + 10
        while not machine.gdb.running and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)
        os.kill(qemu, signal.SIGSTOP)

    freeze = threading.Thread(target=freeze_once_running)
    freeze.start()
    try:
        with pytest.raises(GuestTimeout, match=r"sched_run\(\) did not return.*machine is broken"):
            machine.call("sched_run", timeout=1.0)
    finally:
        freeze.join()
        os.kill(qemu, signal.SIGCONT)
    assert machine.broken and "did not stop when interrupted" in machine.broken
    assert not machine.alive
    with pytest.raises(TargetStateError, match="broken"):
        machine.call("agent_nop", 1)
    machine_pool.release(machine)
    replacement = machine_pool.acquire(machine.cfg)
    assert replacement is not machine and replacement.alive
    assert replacement.call("agent_nop", 4) == 4
