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
