"""Behaviour the PAE work's surviving mutants (group c) showed unpinned: the
frames vmm_init takes at boot, the first page's edge for kernel and user
faults (a null pointer is an address below 4096, not 4096 itself), and the
panic message of an unhandled kernel exception.  Judged from outside: the
PMM's bitmaps and the paging structures through guest RAM, the fault log,
the process records, the PANIC record."""

import pytest

from harness import GuestPanic
from harness.machine.faults import expect_fault
from harness.targets.mmverify.pools import pool_reserve, pools

PAGE = 4096
P, W, U = 0x1, 0x2, 0x4
UD2 = b"\x0f\x0b"
MOV_EAX_TO_EDX_POINTEE = b"\x89\x02"  # mov %eax,(%edx)


def kernel_paging_frames(machine, mode: str) -> set[int]:
    """Frames of the kernel's paging structures, read from guest RAM through
    CR3: legacy, the 256 tables of PDEs 768-1023 (the directory itself is the
    kernel_page_directory symbol, in the image); PAE, the four directories of
    the kernel's PDPT and the 512 tables of its kernel-half directory."""
    cr3 = machine.reg("cr3")
    if mode == "legacy":
        pdes = machine.read_phys(cr3 + 768 * 4, 256 * 4)
        return {int.from_bytes(pdes[i:i + 4], "little") & ~0xFFF for i in range(0, len(pdes), 4)}
    pdpt = machine.read_phys(cr3, 32)
    dirs = [int.from_bytes(pdpt[i:i + 8], "little") & 0xFFFFF000 for i in range(0, 32, 8)]
    pdes = machine.read_phys(dirs[3], PAGE)
    tables = {int.from_bytes(pdes[i:i + 8], "little") & 0xFFFFF000 for i in range(0, PAGE, 8)}
    return set(dirs) | tables


def test_at_boot_the_pmm_has_handed_out_only_the_kernels_paging_structures(
        machine, kernel, paging):
    """At kernel_ready every frame used but not reserved is one of the
    kernel's page tables or (PAE) directories, the frame table (4 bytes a
    frame) or the buddy maps' area (buddy_maps_phys, buddy_maps_bytes):
    vmm_init allocates exactly kernel_table_count tables, no frame more (a
    leaked frame is used and referenced by nothing)."""
    used, reserved = kernel.pmm_bitmaps()
    frames = kernel.pmm_stats()["frame_count"]
    handed_out = {f * PAGE for f in range(frames) if used[f] and not reserved[f]}
    expected = kernel_paging_frames(machine, paging)
    assert len(expected) == (256 if paging == "legacy" else 512 + 4)
    assert 0 not in expected
    table = kernel.u32("frame_table_phys")
    assert kernel.u32("frame_table_frames") == frames
    table_frames = {table + k * PAGE for k in range(-(-frames * 4 // PAGE))}
    pool = pools(kernel)["pagetables"]
    reserve = {va - kernel.kernel_base for va in pool_reserve(kernel, pool)}
    assert len(reserve) == pool["min_objects"] == pool["reserve_level"]
    buddy = kernel.u32("buddy_maps_phys")
    maps_bytes = kernel.u32("buddy_maps_bytes")
    assert buddy % PAGE == 0 and maps_bytes % PAGE == 0, "the map area is whole frames"
    buddy_frames = {buddy + k * PAGE for k in range(maps_bytes // PAGE)}
    assert sorted(handed_out) == sorted(expected | table_frames | reserve | buddy_frames)


@pytest.mark.parametrize("addr,reason", [(PAGE - 1, "null-pointer"), (PAGE, "unmapped")])
def test_a_kernel_read_of_the_first_page_is_a_null_pointer_and_of_the_next_is_not(
        machine, kernel, addr, reason):
    with expect_fault(machine, addr=addr, present=False, write=False, user=False):
        machine.call("agent_probe_read", addr)
    last = kernel.fault_log()[-1]
    assert (last.fault.addr, last.action, last.reason) == (addr, "fixup", reason)


@pytest.mark.machine(modules=["user/hello"])
@pytest.mark.parametrize("target,reason,err", [
    (PAGE - 1, "null-pointer", U | W),         # page 0: never mapped
    (PAGE, "write-to-read-only", U | W | P),    # hello's text starts at 0x1000
])
def test_a_user_write_to_the_first_page_is_a_null_pointer_and_to_the_next_is_not(
        machine, kernel, userland, target, reason, err):
    """hello's first instruction is made ``mov %eax,(%edx)`` (written into
    its text page from outside) with edx = ``target`` in the trap frame its
    first iret uses: the store faults and the process is killed, the reason
    telling the null page from the text page just above it."""
    pid = userland.spawn("hello")
    p = userland.process(pid)
    frame = kernel.layout("trapframe")
    tf = p.kstack_top - frame.size
    entry = machine.read_u32(tf + frame.fields["eip"].offset)
    userland.write(pid, entry, MOV_EAX_TO_EDX_POINTEE)
    machine.write_u32(tf + frame.fields["edx"].offset, target)
    result = userland.run()[pid]
    assert (result.killed, result.reason, result.addr, result.eip, result.err) == (
        True, reason, target, entry, err)
    assert machine.call("agent_nop", 7) == 7, "the kernel runs on"


@pytest.mark.machine(cmdline="paging=legacy")  # no NX: kernel data can be executed
def test_an_unhandled_kernel_exception_panics_naming_the_exception_then_the_mode(machine):
    """A ud2 run in ring 0 (from agent_scratch, executable without NX) is
    an invalid opcode nothing handles: trap() reports it and panics with
    the exception's name, the mode and the faulting eip, in that order."""
    target = machine.symbol("agent_scratch")
    machine.write(target, UD2)
    with pytest.raises(GuestPanic):
        machine.call(target)
    exc = machine.records("EXC")[-1]
    assert (exc.int("vec"), exc["name"], exc.int("eip")) == (6, "#UD", target)
    assert machine.records("PANIC")[-1]["msg"] == (
        f"unhandled #UD in kernel mode at eip={target:#010x}")
