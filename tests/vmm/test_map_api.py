"""map/unmap/lookup/protect through GDB inferior calls, in the current
directory and in another one; directories share the kernel half and give
back every frame they own.  The tests that write legacy directory entries
themselves (4 MiB pages, PDE offsets) pin paging=legacy; their PAE
counterparts are in test_pae_mode.py."""

import pytest

from harness.decode.paging import ACCESSED, DIRTY, PRESENT, PS, USER, WRITE
from tests.expected import KERNEL_BASE, entry_nx, kernel_mapping_reaches_every, lookup_exec

PAGE = 4096
OWNED = 0x200
USER_VA = 0x40000000
ENOENT, EEXIST, EINVAL = 2, 17, 22


def test_map_lookup_unmap_in_the_current_directory(machine, kernel):
    frame = machine.call("allocate_page")
    assert machine.call("map_page", USER_VA, frame, PRESENT | WRITE) == 0
    t = machine.translate(USER_VA)
    assert t.pa == frame and t.write and not t.user
    assert kernel.lookup(kernel.kernel_directory(), USER_VA) == (
        frame, PRESENT | WRITE | lookup_exec(kernel))
    machine.write(USER_VA, b"mapped!")  # GDB reads/writes through the new mapping
    assert machine.read_phys(frame, 7) == b"mapped!"
    assert machine.call("unmap_page", USER_VA) == 0
    assert machine.translate(USER_VA).pa is None
    assert kernel.lookup(kernel.kernel_directory(), USER_VA) is None


def test_protect_changes_rights_and_keeps_the_frame(machine, kernel):
    frame = machine.call("allocate_page")
    kd = kernel.kernel_directory()
    machine.call("map_page", USER_VA, frame, PRESENT | WRITE)
    assert machine.call("vmm_protect", kd, USER_VA, PRESENT) == 0
    t = machine.translate(USER_VA)
    assert t.pa == frame and not t.write
    assert machine.call("agent_probe_write", USER_VA, 5) == -14, "now read-only (CR0.WP)"


def test_map_in_another_directory_leaves_the_current_one_alone(machine, kernel):
    d = machine.call("create_page_directory")
    frame = machine.call("allocate_page")
    assert machine.call("vmm_map", d, USER_VA, frame, PRESENT | WRITE | USER) == 0
    assert machine.translate(USER_VA).pa is None, "not in the current directory"
    other = machine.address_space(d - KERNEL_BASE)
    t = other.translate(USER_VA)
    assert t.pa == frame and t.user and t.write
    assert kernel.lookup(d, USER_VA) == (frame, PRESENT | WRITE | USER | lookup_exec(kernel))


@pytest.mark.machine(cmdline="paging=legacy")
def test_kernel_half_is_identical_in_every_directory(machine, kernel):
    dirs = [machine.call("create_page_directory") for _ in range(3)]
    kd = machine.read(kernel.kernel_directory() + 768 * 4, 256 * 4)
    for d in dirs:
        assert machine.read(d + 768 * 4, 256 * 4) == kd
        assert machine.read(d, 768 * 4) == bytes(768 * 4), "empty user half"
    kernel_mapping_reaches_every(machine, dirs)


def test_switch_changes_cr3_and_back(machine, kernel):
    d = machine.call("create_page_directory")
    frame = machine.call("allocate_page")
    machine.call("vmm_map", d, USER_VA, frame, PRESENT | WRITE)
    loads = kernel.read_struct("vmm_stats", "vmm_stats")["cr3_loads"]
    machine.call("switch_page_directory", d)
    assert kernel.read_struct("vmm_stats", "vmm_stats")["cr3_loads"] == loads + 1
    assert machine.reg("cr3") == d - KERNEL_BASE
    assert machine.call("agent_probe_write", USER_VA, 0xABCD) == 0
    assert machine.read_phys_u32(frame) == 0xABCD
    machine.call("switch_page_directory", kernel.kernel_directory())
    assert machine.reg("cr3") == kernel.kernel_directory() - KERNEL_BASE


@pytest.mark.parametrize("pages", [1, 40, 300])
def test_destroy_returns_every_frame(machine, kernel, pages):
    before = kernel.pmm_stats()["free_frames"]
    d = machine.call("create_page_directory")
    # Owned pages spread over several page tables, plus one borrowed frame.
    for i in range(pages):
        frame = machine.call("allocate_page")
        va = 0x00400000 + i * 0x11000  # 300 pages reach over five page tables
        assert machine.call("vmm_map", d, va, frame, PRESENT | WRITE | USER | OWNED) == 0
    borrowed = machine.call("allocate_page")
    machine.call("vmm_map", d, 0x70000000, borrowed, PRESENT)
    machine.call("destroy_page_directory", d)
    assert kernel.pmm_stats()["free_frames"] == before - 1, "all but the borrowed frame"
    machine.call("free_page", borrowed)
    assert kernel.pmm_stats()["free_frames"] == before


def test_unmap_frees_an_owned_frame_only(machine, kernel):
    before = kernel.pmm_stats()["free_frames"]
    owned, borrowed = machine.call("allocate_page"), machine.call("allocate_page")
    machine.call("map_page", USER_VA, owned, PRESENT | OWNED)
    machine.call("map_page", USER_VA + PAGE, borrowed, PRESENT)
    machine.call("unmap_page", USER_VA)
    machine.call("unmap_page", USER_VA + PAGE)
    free = kernel.pmm_stats()["free_frames"]
    # The page table created for USER_VA stays until the directory goes.
    assert free == before - 1 - 1, "the page table and the borrowed frame remain"


def test_the_cpu_sets_accessed_and_dirty(machine):
    frame = machine.call("allocate_page")
    machine.call("map_page", USER_VA, frame, PRESENT | WRITE)
    assert not machine.translate(USER_VA).pte.raw & (ACCESSED | DIRTY)
    machine.call("agent_probe_read", USER_VA)
    assert machine.translate(USER_VA).pte.raw & ACCESSED
    assert not machine.translate(USER_VA).pte.raw & DIRTY
    machine.call("agent_probe_write", USER_VA, 1)
    assert machine.translate(USER_VA).pte.raw & DIRTY


@pytest.mark.machine(cmdline="paging=legacy")
def test_lookup_inside_a_4mib_page(machine, kernel):
    """The kernel maps 4 KiB pages only, but vmm_lookup reads a 4 MiB PDE
    (one written here into a directory of its own) down to the page."""
    d = machine.call("create_page_directory")
    machine.write_u32(d + 1 * 4, 0x00800000 | PS | WRITE | PRESENT)  # va 4-8 MiB -> 8-12 MiB
    assert kernel.lookup(d, 0x00512000) == (0x00912000, PS | WRITE | PRESENT | lookup_exec(kernel))
    assert kernel.lookup(d, 0x00400000) == (0x00800000, PS | WRITE | PRESENT | lookup_exec(kernel))
    machine.write_u32(d + 1 * 4, 0)  # destroy_page_directory would free it as a table


@pytest.mark.machine(cmdline="paging=legacy")
def test_get_page_table_makes_one_table_and_counts_it(machine, kernel):
    """get_page_table (the seed's API) on the current directory."""
    index = USER_VA >> 22
    stats = kernel.read_struct("vmm_stats", "vmm_stats")["user_page_tables"]
    assert machine.call("get_page_table", index, 0) == 0, "absent, not made"
    table = machine.call("get_page_table", index, 1) & 0xFFFFFFFF
    pde = machine.address_space().pde(index)
    assert (pde.frame, pde.raw & 0xFFF & ~0x20) == (table - KERNEL_BASE, PRESENT | WRITE | USER)
    assert machine.read(table, 4096) == bytes(4096), "zeroed"
    assert kernel.read_struct("vmm_stats", "vmm_stats")["user_page_tables"] == stats + 1
    assert machine.call("get_page_table", index, 1) & 0xFFFFFFFF == table, "the same one"
    assert kernel.read_struct("vmm_stats", "vmm_stats")["user_page_tables"] == stats + 1
    assert machine.call("get_page_table", 1024, 1) == 0, "no PDE 1024"


def test_protect_keeps_the_page_present_when_flags_leave_present_out(machine, kernel):
    """Like map (elf.c maps with USER | OWNED | WRITE), protect implies
    PRESENT: flags 0 mean read-only, supervisor, still mapped."""
    frame = machine.call("allocate_page")
    machine.write_phys(frame, (0x5AFE).to_bytes(4, "little"))
    machine.call("map_page", USER_VA, frame, PRESENT | WRITE)
    assert machine.call("vmm_protect", kernel.kernel_directory(), USER_VA, 0) == 0
    assert machine.translate(USER_VA).pte.raw == frame | PRESENT | entry_nx(kernel)
    assert kernel.lookup(kernel.kernel_directory(), USER_VA) == (
        frame, PRESENT | lookup_exec(kernel))
    assert machine.call("agent_probe_read", USER_VA) == 0
    assert machine.read_u32(machine.symbol("agent_probe_value")) == 0x5AFE
    assert machine.call("agent_probe_write", USER_VA, 1) == -14, "read-only now"


def test_map_over_a_not_present_entry_with_other_bits_set(machine, kernel):
    """With P clear the CPU ignores the rest of an entry (an OS may keep a
    swap slot there), so it is free: map takes it and counts no error."""
    frame, other = machine.call("allocate_page"), machine.call("allocate_page")
    machine.call("map_page", USER_VA, other, PRESENT)  # makes the page table
    machine.call("unmap_page", USER_VA)
    machine.write_pte(USER_VA, other | WRITE)  # not present
    errors = kernel.read_struct("vmm_stats", "vmm_stats")["errors"]
    assert machine.call("map_page", USER_VA, frame, PRESENT | WRITE) == 0
    assert machine.translate(USER_VA).pte.raw == frame | PRESENT | WRITE | entry_nx(kernel)
    assert kernel.read_struct("vmm_stats", "vmm_stats")["errors"] == errors


@pytest.mark.machine(cmdline="paging=legacy")
def test_get_page_table_has_none_for_a_4mib_page(machine, kernel):
    """A PS directory entry maps a large page, not a table: no table to give,
    made or not (the PDE, written here into the live directory, is put back)."""
    index = USER_VA >> 22
    pde_address = kernel.kernel_directory() + index * 4
    tables = kernel.read_struct("vmm_stats", "vmm_stats")["user_page_tables"]
    machine.write_u32(pde_address, 0x00800000 | PS | WRITE | PRESENT)
    try:
        assert machine.call("get_page_table", index, 0) == 0
        assert machine.call("get_page_table", index, 1) == 0
        assert machine.read_u32(pde_address) == 0x00800000 | PS | WRITE | PRESENT, "untouched"
    finally:
        machine.write_u32(pde_address, 0)
    assert kernel.read_struct("vmm_stats", "vmm_stats")["user_page_tables"] == tables
