"""Behaviour the PAE work's mutation run found unpinned (issue 16, group a):
what create_page_directory leaves behind when frames run out part way, what
destroy_page_directory frees (a table's entries and nothing past them, only
present entries), and the exact entries of the kernel's PAE page directory.
Judged from outside: the PMM's and VMM's counters, page-table entries read
from guest RAM."""

import pytest

from tests.expected import KERNEL_BASE

PRESENT, WRITE, USER, OWNED, ACCESSED = 0x1, 0x2, 0x4, 0x200, 0x20
PAGE = 4096
USER_FLAGS = PRESENT | WRITE | USER | OWNED


def pae(machine) -> bool:
    return machine.records("VMM")[0]["mode"] == "pae"


def give_back_one(machine) -> int:
    """Frees the frame at the head of agent_pmm_exhaust's chain (each frame's
    first word links to the next) and returns it."""
    chain = machine.symbol("agent_pmm_chain")
    pa = machine.read_u32(chain)
    assert pa, "the chain is empty"
    machine.write_u32(chain, machine.read_phys_u32(pa))
    machine.call("free_page", pa)
    return pa


@pytest.mark.machine(memory="16M")  # every frame direct-mapped: any of them can be a table
def test_create_page_directory_with_too_few_frames_takes_nothing_and_counts_nothing(
        machine, kernel):
    """A directory takes one frame (legacy) or four (PAE: the PDPT page and
    three user page directories).  With fewer free, create_page_directory
    returns NULL and gives back every frame it took; the only trace is the
    one failed allocation."""
    needed = 4 if pae(machine) else 1
    assert machine.call("agent_pmm_exhaust") > 0
    assert kernel.pmm_stats()["free_frames"] == 0
    for free in range(needed):
        if free:
            give_back_one(machine)
        pmm, vmm = kernel.pmm_stats(), kernel.read_struct("vmm_stats", "vmm_stats")
        assert pmm["free_frames"] == free
        assert machine.call("create_page_directory") == 0, f"{free} frames are too few"
        assert kernel.pmm_stats() == {**pmm, "failed_allocations": pmm["failed_allocations"] + 1}
        assert kernel.read_struct("vmm_stats", "vmm_stats") == vmm, "no directory counted"
    give_back_one(machine)
    d = machine.call("create_page_directory")
    assert d, f"{needed} frames are enough"
    assert kernel.pmm_stats()["free_frames"] == 0
    machine.call("destroy_page_directory", d)
    assert kernel.pmm_stats()["free_frames"] == needed
    machine.call("agent_pmm_release")


def table_span(machine) -> int:
    """Bytes one page table maps: 4 MiB (legacy), 2 MiB (PAE)."""
    return (2 if pae(machine) else 4) << 20


def test_destroy_reads_each_page_table_to_its_last_entry_and_no_further(machine, kernel):
    """Two page tables in consecutive frames, the second one's entry 0
    mapping an owned frame: destroy frees that frame once (from the second
    table), not also as if it were the first table's entry one past its end."""
    before = kernel.pmm_stats()
    d = machine.call("create_page_directory")
    va = 0x00400000
    first, second = machine.call("allocate_page"), machine.call("allocate_page")
    assert machine.call("vmm_map", d, va, first, USER_FLAGS) == 0
    assert machine.call("vmm_map", d, va + table_span(machine), second, USER_FLAGS) == 0
    aspace = machine.address_space(d - KERNEL_BASE)
    tables = [aspace.translate(v).pde.frame for v in (va, va + table_span(machine))]
    assert tables[1] == tables[0] + PAGE, f"the tables are consecutive frames: {tables}"
    assert machine.read_phys_u32(tables[1]) & 0xFFF == USER_FLAGS & 0xFFF
    machine.call("destroy_page_directory", d)
    assert kernel.pmm_stats() == before, "every frame back, each freed once"


def test_destroy_frees_nothing_for_a_not_present_entry_whatever_its_other_bits(
        machine, kernel):
    """With P clear an entry maps nothing (an OS may keep a swap slot in the
    other bits): destroy frees only frames that present, owned entries map.
    The not-present entry here, written behind the kernel's back, names a
    frame the test holds, with the owned bit set."""
    held = machine.call("allocate_page")
    before = kernel.pmm_stats()
    d = machine.call("create_page_directory")
    va = 0x00400000
    frame = machine.call("allocate_page")
    assert machine.call("vmm_map", d, va, frame, USER_FLAGS) == 0  # makes the page table
    machine.write_pte(va + PAGE, held | OWNED | WRITE | USER, cr3=d - KERNEL_BASE)
    assert not machine.address_space(d - KERNEL_BASE).translate(va + PAGE).pte.present
    machine.call("destroy_page_directory", d)
    assert kernel.pmm_stats() == before, "the held frame stays in use"
    machine.call("free_page", held)


@pytest.mark.machine(cmdline="paging=pae")  # PAE only: runs once, not in the matrix
def test_the_pae_kernel_directory_holds_exactly_the_kernel_page_tables(machine, kernel):
    """PDPT entry 3 (the kernel's) points at a page directory whose 512
    entries are the kernel's page tables, present and writable, nothing else
    (user rights and execution are decided in the PTEs; QEMU may set the
    accessed bit as it walks)."""
    if not pae(machine):
        pytest.skip("the CPU has no PAE (paging=pae fell back to legacy)")
    pdpt = machine.read_phys(kernel.kernel_directory() - KERNEL_BASE, 32)
    pd = int.from_bytes(pdpt[24:32], "little") & ~0xFFF
    assert pd == machine.read_u32(machine.symbol("kernel_pae_pd"))
    tables = machine.read(machine.symbol("kernel_tables"), 512 * 4)
    entries = machine.read_phys(pd, PAGE)
    for i in range(512):
        table = int.from_bytes(tables[i * 4:i * 4 + 4], "little")
        entry = int.from_bytes(entries[i * 8:i * 8 + 8], "little")
        assert table and entry & ~ACCESSED == table | PRESENT | WRITE, f"PDE {i}: {entry:#x}"
