"""kill() of a process blocked in wait(): the kill wakes it at once (ready, to
die at its next return to user mode), rather than leaving it blocked until
the child it waits for ends.

The parent is a hello whose getpid system call is replayed, at its
``int $0x80``, as spawn("spawner"), yield, and kill: spawner spawns hello and
waits for it; that hello's own getpid is made a yield, so when the parent
kills spawner, spawner is blocked and its child has not ended."""

import pytest

from harness import CallStopped
from tests.process.test_boundaries import int80_in

pytestmark = pytest.mark.machine(modules=["user/*"], cmdline="aslr=off")

SYS_YIELD, SYS_GETPID, SYS_SPAWN, SYS_KILL = 8, 9, 10, 12  # include/kernel/syscall.h


def test_killing_a_process_blocked_in_wait_makes_it_ready(machine, userland, kernel):
    at = int80_in(userland.user_dir / "hello.elf", "getpid")
    parent = userland.spawn("hello")
    parent_cr3 = userland.process(parent).cr3
    machine.break_at(at)
    machine.break_at(at + 2)

    def stopped(addr, in_parent):
        assert machine.reg("eip") == addr
        assert (machine.reg("cr3") == parent_cr3) is in_parent

    def replay(**registers):
        """The parent's int $0x80 once more, with these registers: GDB reports
        the breakpoint at a PC that was moved onto it before running it."""
        machine.write_registers(eip=at, **registers)
        machine.cont()
        stopped(at, True)
        machine.cont()

    with pytest.raises(CallStopped):
        machine.call("sched_run")
    stopped(at, True)
    name = machine.reg("esp") - 64  # below the parent's stack pointer: free
    machine.write(name, b"spawner\0")
    machine.write_registers(eax=SYS_SPAWN, ebx=name, ecx=0)
    machine.cont()
    stopped(at + 2, True)
    waiter = machine.reg("eax")
    replay(eax=SYS_YIELD)
    stopped(at, False)  # spawner's child: spawner has spawned it and waits
    assert userland.process(waiter).state == "blocked"
    machine.write_registers(eax=SYS_YIELD)  # the child yields: the parent runs
    machine.cont()
    stopped(at + 2, True)
    replay(eax=SYS_KILL, ebx=waiter)
    stopped(at + 2, True)
    assert machine.reg("eax") == 0
    [entry] = [p for p in kernel.process_table() if p["pid"] == waiter]
    assert (entry["state"], entry["kill_pending"]) == (1, 1), "ready, to die"
    machine.delete_breakpoints()
    machine.write_registers(eip=at, eax=SYS_GETPID)  # and on as hello would
    machine.cont()  # sched_run goes on to its end
    results = userland.history()
    assert (results[waiter].killed, results[waiter].reason) == (True, "killed")
    assert (results[parent].killed, results[parent].status) == (False, 0)
