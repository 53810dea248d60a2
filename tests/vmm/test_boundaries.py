"""The VMM at the user/kernel boundary: the last user page (0xBFFFF000) takes
user mappings, the first kernel page (0xC0000000) refuses them with the exact
error and changes nothing, takes supervisor mappings as global kernel pages,
and an unmap there through any directory leaves no stale TLB entry."""

from harness.decode.paging import GLOBAL, PRESENT, USER, WRITE
from tests.expected import KERNEL_BASE, lookup_exec

LAST_USER = KERNEL_BASE - 0x1000
ENOENT, EINVAL = -2, -22


def kernel_global_bit(machine):
    """G as the kernel's own pages have it (set only when the CPU has PGE)."""
    return machine.translate(machine.symbol("kmain")).pte.raw & GLOBAL


def test_the_last_user_page_takes_a_user_mapping(machine, kernel):
    d = machine.call("create_page_directory")
    frame = machine.call("allocate_page")
    assert machine.call("vmm_map", d, LAST_USER, frame, PRESENT | WRITE | USER) == 0
    assert kernel.lookup(d, LAST_USER) == (frame, PRESENT | WRITE | USER | lookup_exec(kernel)), "not global"
    assert machine.call("vmm_protect", d, LAST_USER, PRESENT | USER) == 0
    assert kernel.lookup(d, LAST_USER) == (frame, PRESENT | USER | lookup_exec(kernel))
    out = machine.symbol("agent_scratch")
    assert machine.call("vmm_unmap", d, LAST_USER, out) == 0
    assert machine.read_u32(out) == frame
    assert kernel.lookup(d, LAST_USER) is None


def refused_at_the_base(machine, kernel, call, args, kind, op):
    """``call`` at 0xC0000000 is refused: -EINVAL, one VMM record of ``kind``,
    the shared kernel table and the PMM untouched."""
    table = machine.pte_address(KERNEL_BASE) & ~0xFFF
    before = machine.read_phys(table, 4096), kernel.pmm_stats()["free_frames"]
    mark = machine.mark()
    assert machine.call(call, *args) == EINVAL
    assert [(r["error"], r["op"], r.int("va")) for r in machine.records("VMM", since=mark)] \
        == [(kind, op, KERNEL_BASE)]
    assert (machine.read_phys(table, 4096), kernel.pmm_stats()["free_frames"]) == before
    assert kernel.lookup(kernel.kernel_directory(), KERNEL_BASE) is None


def test_the_first_kernel_page_refuses_a_user_mapping(machine, kernel):
    frame = machine.call("allocate_page")
    d = machine.call("create_page_directory")
    refused_at_the_base(machine, kernel, "vmm_map", (d, KERNEL_BASE, frame, PRESENT | USER),
                        "user-in-kernel-space", "map")
    refused_at_the_base(machine, kernel, "map_page", (KERNEL_BASE, frame, PRESENT | WRITE | USER),
                        "user-in-kernel-space", "map")


def test_the_first_kernel_page_takes_a_kernel_mapping_and_refuses_user_rights(machine, kernel):
    kd = kernel.kernel_directory()
    frame = machine.call("allocate_page")
    g = kernel_global_bit(machine)
    assert kernel.lookup(kd, KERNEL_BASE) is None, "the first MiB is not direct-mapped"
    assert machine.call("map_page", KERNEL_BASE, frame, PRESENT | WRITE) == 0
    assert kernel.lookup(kd, KERNEL_BASE) == (frame, PRESENT | WRITE | g | lookup_exec(kernel)), "a global kernel page"
    pte_before = machine.translate(KERNEL_BASE).pte.raw
    mark = machine.mark()
    assert machine.call("vmm_protect", kd, KERNEL_BASE, PRESENT | USER) == EINVAL
    assert [(r["error"], r["op"]) for r in machine.records("VMM", since=mark)] == \
        [("bad-flags", "protect")]
    assert machine.translate(KERNEL_BASE).pte.raw == pte_before
    assert machine.call("vmm_protect", kd, KERNEL_BASE, PRESENT) == 0
    assert kernel.lookup(kd, KERNEL_BASE) == (frame, PRESENT | g | lookup_exec(kernel))
    assert machine.call("unmap_page", KERNEL_BASE) == 0
    assert machine.call("unmap_page", KERNEL_BASE) == ENOENT


def test_an_unmap_at_the_base_through_another_directory_flushes_the_tlb(machine, kernel):
    """The kernel half is live in every directory: an unmap there through a
    directory that is not current must still invlpg."""
    frame = machine.call("allocate_page")
    machine.write_phys(frame, b"\x5a\x5a\x5a\x5a")
    assert machine.call("map_page", KERNEL_BASE, frame, PRESENT | WRITE) == 0
    assert machine.call("agent_probe_read", KERNEL_BASE) == 0  # now in the TLB
    assert machine.read_u32(machine.symbol("agent_probe_value")) == 0x5A5A5A5A
    d = machine.call("create_page_directory")
    assert machine.call("vmm_unmap", d, KERNEL_BASE, 0) == 0
    assert machine.call("agent_probe_read", KERNEL_BASE) == -14, "a stale TLB entry"
