"""Processes at the limits the kernel checks: system calls with pointers at
the last user byte and the first kernel byte, user accesses on both sides of
0xC0000000, and a shared-memory segment whose creator lets go while another
process still maps it (the frames stay used and mapped; the last detach
frees exactly them)."""

import functools

import pytest
from elftools.elf.elffile import ELFFile

from harness import CallStopped
from harness.targets.mmverify.invariants import violations
from tests.expected import KERNEL_BASE

pytestmark = pytest.mark.machine(modules=["user/*"], cmdline="aslr=off")

SYS_WRITE, SYS_WAIT = 2, 11  # the system call ABI (include/kernel/syscall.h)
EFAULT, EPERM = -14, -1
PAGE = 4096


@functools.cache
def int80_in(path, function):
    """Address of the ``int $0x80`` in ``function`` of a user program (its ELF)."""
    with open(path, "rb") as f:
        elf = ELFFile(f)
        [sym] = elf.get_section_by_name(".symtab").get_symbol_by_name(function)
        text = elf.get_section_by_name(".text")
        start = sym["st_value"] - text["sh_addr"]
        code = text.data()[start:start + sym["st_size"]]
    return sym["st_value"] + code.index(b"\xcd\x80")


def syscall_in(machine, userland, pid, number, a=0, b=0, c=0, before=None):
    """Run the scheduler until hello ``pid`` stops at the int $0x80 of its
    first system call (getpid, whose registers are free to change there),
    make that call ``number`` with (a, b, c) instead, and run everything to
    its end.  ``before(pid)`` runs while it is stopped.  Returns the call's
    result."""
    cr3 = userland.process(pid).cr3
    at = int80_in(userland.user_dir / "hello.elf", "getpid")
    machine.break_at(at, condition=f"$cr3 == {cr3:#x}")
    with pytest.raises(CallStopped):
        machine.call("sched_run")
    if before is not None:
        before(pid)
    machine.write_registers(eax=number, ebx=a, ecx=b, edx=c)
    machine.delete_breakpoints()
    machine.break_at(at + 2, condition=f"$cr3 == {cr3:#x}")
    assert machine.cont().addr == at + 2
    result = machine.reg("eax")
    machine.delete_breakpoints()
    machine.cont()  # sched_run goes on to its end
    return result - (1 << 32) if result & 1 << 31 else result


@pytest.mark.parametrize(("buf", "length", "written"), [
    (KERNEL_BASE - 1, 1, 1),              # the last user byte
    (KERNEL_BASE - PAGE, PAGE, PAGE),      # the whole last user page
    (KERNEL_BASE - 1, 2, EFAULT),         # one byte over
    (KERNEL_BASE, 1, EFAULT),             # the first kernel byte
    (KERNEL_BASE - 64, 128, 64),          # the first chunk made it, the second did not
    (KERNEL_BASE - 100, 100, 100),        # a whole chunk, then a short one up to the top
], ids=["last-byte", "last-page", "over-by-one", "kernel-base", "partial", "short-chunk"])
def test_write_at_the_top_of_user_space(machine, userland, buf, length, written):
    """aslr=off: the stack's first page, mapped at spawn, is the last user page."""
    seen = {}

    def read_top(pid):
        seen["top"] = userland.read(pid, KERNEL_BASE - PAGE, PAGE)
    pid = userland.spawn("hello")
    result = syscall_in(machine, userland, pid, SYS_WRITE, 1, buf, length, before=read_top)
    assert result == written
    sent = seen["top"][buf - (KERNEL_BASE - PAGE):][:max(written, 0)]
    hello_says = b"USER prog=hello pid=%d argc=1\n" % result  # getpid() was our call
    assert userland.output(pid) == sent + hello_says
    assert userland.history()[pid].status == 0


def test_waiting_for_a_process_that_is_not_a_child(machine, userland):
    """Both spawned by the kernel: one may not wait for the other, which is
    alive (ready, not yet run: the scheduler starts after slot 0, so the
    second spawned runs first)."""
    other = userland.spawn("hello")
    waiter = userland.spawn("hello")
    assert syscall_in(machine, userland, waiter, SYS_WAIT, other) == EPERM
    assert userland.history()[other].status == 0


def test_a_user_read_at_either_side_of_the_kernel_base(userland):
    below = userland.spawn("probe", str(KERNEL_BASE - 8))
    at = userland.spawn("probe", str(KERNEL_BASE))
    results = userland.run()
    # argv[1], "3221225464", ends 8 bytes below the top: the word is its last digits.
    assert (results[below].killed, results[below].status) == (
        False, int.from_bytes(b"5464", "little"))
    assert (results[at].killed, results[at].reason, results[at].addr) == (
        True, "kernel-address", KERNEL_BASE)


def slot_of(machine, kernel, pid):
    """Kernel address of the process table entry of ``pid``."""
    size = kernel.layout("process").size
    table = machine.symbol("proc_table")
    for i, p in enumerate(kernel.read_array("process", table, 16)):
        if p["pid"] == pid and p["state"]:
            return table + i * size
    raise KeyError(pid)


def test_a_segment_outlives_its_creator_and_goes_with_the_last_detach(machine, userland,
                                                                      kernel):
    """Through the kernel's own shm calls on two processes not yet run: the
    creator attaches and exits (shm_release_all, as at exit); the other's
    mapping keeps the frames; its detach frees exactly them."""
    machine.call("heap_trim")
    baseline = kernel.pmm_stats()["free_frames"]
    creator, other = userland.spawn("hello"), userland.spawn("hello")
    pc, po = slot_of(machine, kernel, creator), slot_of(machine, kernel, other)
    free_before = kernel.pmm_stats()["free_frames"]
    seg = machine.call("shm_create", pc, 2)
    assert seg > 0
    va_c = machine.call("shm_attach", pc, seg)
    va_o = machine.call("shm_attach", po, seg)
    [s] = kernel.shm_segments()
    assert (s["id"], s["refs"], s["creator"]) == (seg, 3, creator)
    frames = s["frames"]
    assert [userland.address_space(creator).translate(va_c + i * PAGE).pa
            for i in range(2)] == frames
    assert violations(kernel) == []

    machine.call("shm_release_all", pc)  # what the creator's exit does
    [s] = kernel.shm_segments()
    assert (s["refs"], s["creator"], s["frames"]) == (1, 0, frames)
    used, _ = kernel.pmm_bitmaps()
    assert all(used[f >> 12] for f in frames), "still used: another process maps them"
    assert [userland.address_space(other).translate(va_o + i * PAGE).pa
            for i in range(2)] == frames
    assert userland.address_space(creator).translate(va_c).pa is None
    assert violations(kernel) == []

    assert machine.call("shm_detach", po, va_o) == 0
    assert kernel.shm_segments() == []
    used, _ = kernel.pmm_bitmaps()
    assert not any(used[f >> 12] for f in frames)
    machine.call("heap_trim")  # the segment's frame list was kmalloc'd
    # Each process has a page table for its attachment area now, kept until it ends.
    assert kernel.pmm_stats()["free_frames"] == free_before - 2
    assert violations(kernel) == []
    userland.run()
    machine.call("heap_trim")
    assert kernel.pmm_stats()["free_frames"] == baseline


def test_two_processes_on_one_segment_hold_three_references(machine, userland, kernel):
    """pingpong: ping creates and attaches, pong attaches a scratch segment and
    ping's; stopped at pong's checkpoint, both live, every count exact."""
    ping = userland.spawn("pingpong", "ping 3")
    machine.break_at(userland.symbol("pingpong", "checkpoint"))
    with pytest.raises(CallStopped):
        machine.call("sched_run")
    pong = next(p.pid for p in userland.processes() if p.pid != ping)
    refs = {s["id"]: (s["refs"], s["creator"]) for s in kernel.shm_segments()}
    assert refs == {1: (3, ping), 2: (2, pong)}, "creator + each attachment"
    assert violations(kernel) == []
    machine.delete_breakpoints()
    machine.cont()
    assert kernel.shm_segments() == [], "both gone with their processes"
