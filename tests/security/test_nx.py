"""No execution from data (W^X with NX): a user program copies a six-byte
function (mov $42, %eax; ret) into its stack, heap, data, bss or shared
memory, and calls it.  Under PAE with NX the fetch faults: the process is
killed with reason exec-nx and the decoded I/D error bit, the kernel and a
bystander run on, and nothing leaks.  Under legacy paging every page is
executable and the call returns 42: the same test seeing the hole NX closes.
A program whose ELF would need a page both writable and executable is not
loaded.

The kernel half: the kernel calling into its own heap, stack, data, the
direct map or rodata is a fetch fault the kernel reports and panics on."""

import pytest

from harness import CallStopped, GuestPanic
from harness.machine.qemu import EXIT_PANIC

pytestmark = pytest.mark.machine(modules=["user/*"], cmdline="aslr=off")

U, W, P, ID = 0x4, 0x2, 0x1, 0x10
RET42 = bytes([0xB8, 0x2A, 0x00, 0x00, 0x00, 0xC3])
PAGE = 4096


def nx_on(machine) -> bool:
    mode = machine.paging_mode()
    return mode is not None and mode.pae and mode.nxe


def where_the_code_is(userland, pid, where):
    proc = userland.process(pid)
    return {
        "heap": proc.heap_base,
        "shm": proc.shm_base,
        "data": userland.symbol("nxexec", "code_data"),
        "bss": userland.symbol("nxexec", "code_bss"),
    }.get(where)


def stop_at_checkpoint(machine, userland, program, pid):
    """Runs the processes until `pid` reaches its checkpoint (inside sched_run)."""
    machine.break_at(userland.symbol(program, "checkpoint"),
                     condition=f"$cr3 == {userland.process(pid).cr3:#x}")
    with pytest.raises(CallStopped):
        machine.call("sched_run")


def run_to_the_end(machine, userland):
    """Lets the sched_run stopped at the checkpoint finish: how each process ended."""
    machine.delete_breakpoints()
    machine.cont()
    return userland.history()


@pytest.mark.parametrize("where", ["stack", "heap", "data", "bss", "shm"])
def test_code_copied_into_data_does_not_run(machine, userland, no_leaks, paging, where):
    bystander = userland.spawn("bystander", "40")
    pid = userland.spawn("nxexec", where)
    stop_at_checkpoint(machine, userland, "nxexec", pid)
    code = where_the_code_is(userland, pid, where)
    if code is None:  # the stack: the copy is in the page the stack pointer is in
        code = machine.reg("esp") & ~(PAGE - 1)
        page = userland.read(pid, code, userland.process(pid).stack_top - code)
        assert RET42 in page, "the copy is on the stack"
        code += page.index(RET42)
    assert userland.read(pid, code, len(RET42)) == RET42, "the copy is where we look"
    walked = userland.address_space(pid).translate(code)
    assert walked.pa is not None and walked.user and walked.write
    assert walked.execute == (not nx_on(machine)), "writable data is NX exactly when NX is on"

    results = run_to_the_end(machine, userland)
    assert results[bystander].status == 0 and not results[bystander].killed
    r = results[pid]
    if nx_on(machine):
        assert (r.killed, r.reason) == (True, "exec-nx")
        assert (r.addr, r.eip) == (code, code), "the fetch itself faulted, at the copy"
        assert r.err == U | P | ID, "present page, user, instruction fetch"
    else:
        assert paging == "legacy" or not machine.paging_mode().nxe
        assert (r.killed, r.status) == (False, 42), "without NX the copied code runs"


def test_a_page_both_text_and_data_is_refused_at_load(machine, userland, no_leaks, paging):
    """nxmixed.ld makes the text segment's last page the data segment's first:
    mapped for both, it would be writable and executable.  The loader refuses
    the program (in both modes: W^X is the VMM's rule, NX only enforces it),
    with one record naming the segment and page, and nothing is left mapped."""
    function = userland.symbol("nxmixed", "mixed_page_function")
    assert userland.symbol("nxmixed", "shared_page_data") // PAGE == function // PAGE
    mark = machine.mark()
    with pytest.raises(RuntimeError, match="failed: -22"):
        userland.spawn("nxmixed")
    refusals = machine.records("ELF", since=mark)
    assert [(r["error"], r.int("va")) for r in refusals] == [("write-and-exec", function)]
    assert not userland.processes()


def test_text_runs_and_stays_read_only(machine, userland):
    pid = userland.spawn("hello")
    walked = userland.address_space(pid).translate(userland.symbol("hello", "main"))
    assert walked.user and not walked.write and walked.execute
    assert userland.run()[pid].status == 0


# -- the kernel half ---------------------------------------------------------------------

def kernel_calls_into(machine, address):
    """Puts `ret` at address (GDB writes through any protection) and calls it."""
    machine.write(address, b"\xC3")
    if not nx_on(machine):
        machine.call(address)  # returns: without NX the kernel runs its data
        return None
    with pytest.raises(GuestPanic) as info:
        machine.call(address)
    assert info.value.exit_status == EXIT_PANIC
    pf = machine.records("PF")[-1]
    assert (pf.int("addr"), pf.int("eip")) == (address, address)
    assert pf.int("err") == P | ID, "present page, supervisor, instruction fetch"
    assert (pf["mode"], pf["action"], pf["reason"]) == ("kernel", "panic", "exec-nx")
    return info.value


def kernel_address(machine, where):
    if where == "heap":
        return machine.call("kmalloc", 64)
    if where == "stack":
        return (machine.reg("esp") - 1024) & ~0xF
    if where == "data":
        return machine.symbol("vmm_stats")
    if where == "direct-map":
        return 0xC0000000 + machine.call("allocate_page")
    if where == "rodata":
        return machine.symbol("__rodata_start")
    raise AssertionError(where)


@pytest.mark.parametrize("where", ["heap", "stack", "data", "direct-map", "rodata"])
def test_the_kernel_executing_its_data_panics(machine, paging, where):
    address = kernel_address(machine, where)
    walked = machine.translate(address)
    assert walked.pa is not None and not walked.user
    assert walked.execute == (not nx_on(machine))
    kernel_calls_into(machine, address)


def test_kernel_text_is_executable_and_read_only(machine):
    walked = machine.translate(machine.symbol("kmalloc"))
    assert walked.execute and not walked.write and not walked.user
