"""The fault matrix: one small program per way a process can fault, each
killed with the right reason, CR2 and error bits, while the kernel and other
processes run on."""

import pytest

pytestmark = pytest.mark.machine(modules=["user/*"], cmdline="aslr=off")

U, W, P = 0x4, 0x2, 0x1
KERNEL_TEXT = 0xC0100000


def faulting(userland, program):
    bystander = userland.spawn("hello", "0")
    victim = userland.spawn(program)
    results = userland.run()
    assert results[bystander].status == 0 and not results[bystander].killed, "others run on"
    assert userland.m.call("agent_nop", 9) == 9, "the kernel runs on"
    result = results[victim]
    assert result.killed and result.status == -1
    return result


@pytest.mark.parametrize("program,addr,err", [
    ("nullread", 0, U),
    ("nullwrite", 0, U | W),
])
def test_null_pointer(userland, program, addr, err):
    r = faulting(userland, program)
    assert (r.reason, r.addr, r.err) == ("null-pointer", addr, err)


def test_write_to_own_text(userland):
    r = faulting(userland, "writetext")
    assert r.reason == "write-to-read-only"
    assert r.addr == userland.symbol("writetext", "main")
    assert r.err == U | W | P


@pytest.mark.parametrize("program,err", [("readkernel", U | P), ("writekernel", U | W | P),
                                         ("jumpkernel", U | P)])
def test_kernel_addresses(userland, program, err):
    r = faulting(userland, program)
    assert (r.reason, r.addr) == ("kernel-address", KERNEL_TEXT)
    assert r.err & 0x7 == err, "present (supervisor) page, user access"
    if program == "jumpkernel":
        assert r.eip == KERNEL_TEXT, "the fetch itself faulted"


def test_stack_overflow_hits_the_guard_page(userland):
    pid = userland.spawn("stackoverflow")
    stack_limit = userland.process(pid).stack_limit
    r = userland.run()[pid]
    assert r.killed and r.reason == "stack-overflow"
    assert stack_limit - 4096 <= r.addr < stack_limit
    assert r.err & U


def test_touching_beyond_the_heap_break(userland):
    pid = userland.spawn("heapoverrun")
    heap = userland.process(pid).heap_base
    r = userland.run()[pid]
    assert (r.reason, r.addr) == ("unmapped", heap + 4096 + 64)
    assert r.err == U | W


def test_fault_records_reach_the_ring_buffer(userland, kernel):
    pid = userland.spawn("nullwrite")
    userland.run()
    last = kernel.fault_log()[-1]
    assert (last.pid, last.action, last.reason, last.fault.addr) == (pid, "kill", "null-pointer", 0)
    assert last.fault.user


@pytest.mark.machine(modules=["user/*"], cmdline="aslr=off run=hello,nullread,hello")
def test_a_scenario_from_the_command_line(machine, userland):
    """run= on the command line: the kernel spawns and runs them after
    kernel_ready; the harness collects how each ended, from both records."""
    mark = machine.mark()
    machine.run_to("scenario_done")
    results = userland.finished_since(mark)
    assert sorted((r.name, r.reason) for r in results.values()) == [
        ("hello", "exit"), ("hello", "exit"), ("nullread", "null-pointer")]


def test_the_kernels_record_of_a_kill_and_of_an_exit(machine, userland, kernel):
    """proc_history's raw entries (proc.h): status -1 and killed 1 for a
    kill, the exit status and killed 0 for an exit."""
    killed, exited = userland.spawn("nullwrite"), userland.spawn("hello", "3")
    userland.run()
    size = kernel.sizeof("proc_history") // kernel.layout("proc_record").size
    records = {r["pid"]: r for r in kernel.read_array("proc_record",
                                                      machine.symbol("proc_history"), size)}
    assert (records[killed]["status"], records[killed]["killed"]) == (0xFFFFFFFF, 1)
    assert (records[exited]["status"], records[exited]["killed"]) == (3, 0)
