"""What user programs print cannot add, hide or change the kernel's records:
the harness reads results from COM2, which only the kernel drives, and user
output only from the OUT records in which the kernel attributes it.  Each
test runs the hostile program beside an honest one and holds the harness's
view to exactly what the kernel remembers (its proc_history, through GDB)."""

import pytest

from harness.errors import CallStopped
from harness.targets.mmverify.processes import ProcessResult

pytestmark = pytest.mark.machine(modules=["user/*"], cmdline="aslr=off")

COM2 = 0x2F8
GP = 13


def run_beside_hello(userland, program):
    """Run ``program`` and hello 5; their pids and the harness's results."""
    pid = userland.spawn(program)
    honest = userland.spawn("hello", "5")
    results = userland.run()
    assert results[honest] == ProcessResult(honest, "hello", 5, False, "exit")
    return pid, honest, results


def test_output_without_a_newline_does_not_hide_the_next_exit(machine, userland):
    console = machine.console.mark()
    pid, honest, results = run_beside_hello(userland, "nonewline")
    assert results == {pid: ProcessResult(pid, "nonewline", 7, False, "exit"),
                       honest: ProcessResult(honest, "hello", 5, False, "exit")}
    assert userland.output(pid) == b"USER prog=nonewline the line goes on"
    # for people, on the console, the kernel ends the open line before its record
    assert (f'the line goes on\nEXIT pid={pid} name="nonewline" status=7'
            in machine.console.text(console))


def test_a_printed_exit_record_adds_no_result_and_changes_none(machine, userland):
    mark = machine.mark()
    pid, honest, results = run_beside_hello(userland, "spoofer")
    assert results == {pid: ProcessResult(pid, "spoofer", 0, False, "exit"),
                       honest: ProcessResult(honest, "hello", 5, False, "exit")}
    assert [r["name"] for r in machine.records("SPAWN", since=mark)] == ["spoofer", "hello"]
    assert b"EXIT pid=41 name=ghost" in userland.output(pid), "it did print them"


def test_a_printed_panic_line_is_not_a_panic(machine, userland):
    pid, honest, results = run_beside_hello(userland, "fakepanic")
    assert results == {pid: ProcessResult(pid, "fakepanic", 3, False, "exit"),
                       honest: ProcessResult(honest, "hello", 5, False, "exit")}
    assert machine.records("PANIC") == [], "none since boot"
    assert machine.call("agent_nop", 4) == 4, "the machine runs on"
    assert machine.alive


def test_user_code_cannot_write_the_record_channel(machine, userland):
    """ring 3 runs with IOPL 0 and no I/O bitmap: an out to COM2 is a #GP, the
    program is killed at that instruction and not one byte reaches COM2."""
    mark = machine.mark()
    pid = userland.spawn("ioport")
    outb = userland.symbol("ioport", "record_port_write")
    machine.break_at(outb, hardware=True)  # linear address: whatever CR3 holds
    with pytest.raises(CallStopped):
        machine.call("sched_run")
    regs = machine.registers("eip", "cs", "eflags", "edx")
    assert (regs["eip"], regs["cs"] & 3, regs["edx"]) == (outb, 3, COM2)
    assert (regs["eflags"] >> 12) & 3 == 0, "IOPL 0"
    machine.delete_breakpoints()
    machine.cont()
    assert userland.finished_since(mark) == {
        pid: ProcessResult(pid, "ioport", -1, True, "general-protection", 0, 0, outb)}
    [exc] = machine.records("EXC", since=mark)
    assert (exc.int("vec"), exc.int("eip"), exc.int("err")) == (GP, outb, 0)
    channel = machine.record_channel.text(mark)
    assert [r.tag for r in machine.records(since=mark)] == ["SPAWN", "EXC", "EXIT"]
    assert channel.count("\n") == 3 and channel.endswith("\n"), "nothing but the records"


def test_output_of_processes_is_attributed_to_each_exactly(userland):
    first = userland.spawn("hello", "1")
    second = userland.spawn("nonewline")
    userland.run()
    assert userland.output(first) == f"USER prog=hello pid={first} argc=2\n".encode()
    assert userland.output(second) == b"USER prog=nonewline the line goes on"
    [claim] = userland.claims("USER", pid=first)
    assert (claim["prog"], claim.int("pid")) == ("hello", first)
