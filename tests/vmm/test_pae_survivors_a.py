"""Behaviour the PAE work's mutation run found unpinned (issue 16, group a):
what create_page_directory leaves behind when frames run out part way, what
destroy_page_directory frees (a table's entries and nothing past them, only
present entries), and the exact entries of the kernel's PAE page directory.
Judged from outside: the PMM's and VMM's counters, page-table entries read
from guest RAM."""

import pytest

from harness import GuestPanic
from harness.targets.mmverify.kernel import Kernel
from tests.expected import KERNEL_BASE

PRESENT, WRITE, USER, OWNED, ACCESSED = 0x1, 0x2, 0x4, 0x200, 0x20
PAGE = 4096
AVAILABLE, RESERVED = 1, 2
BOOT_MAPPED_LIMIT = 16 << 20  # memlayout.h: what the boot page tables map
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


def set_region(m, k: Kernel, index: int, start: int, end: int, kind: int) -> None:
    """Rewrites (or, at index region_count, adds) an entry of the kernel's
    copy of the loader's memory map, before memory_init reads it."""
    layout = k.layout("boot_memory_region")
    base = k.field_address("boot_info", "boot_info", "regions") + index * layout.size
    m.write(base + layout.fields["start"].offset, start.to_bytes(8, "little"))
    m.write(base + layout.fields["end"].offset, end.to_bytes(8, "little"))
    m.write(base + layout.fields["type"].offset, kind.to_bytes(4, "little"))
    count = k.field_address("boot_info", "boot_info", "region_count")
    m.write_u32(count, max(m.read_u32(count), index + 1))


CASES = {  # where RAM stops: after which kernel table, and what the panic says
    "directory": (512, "no frame for the kernel page directory below the boot mapping"),
    "table-300": (300, "no frame for kernel page table 300 below the boot mapping"),
}


@pytest.mark.machine(memory="32M", cmdline="paging=pae")  # PAE only: runs once
@pytest.mark.parametrize(("missing", "rest"), [
    ("directory", "none"), ("directory", "above-the-boot-mapping"),
    # (RAM ending before table 300 is too little for memory_init: its own panic)
    ("table-300", "above-the-boot-mapping")])
def test_no_frame_below_the_boot_mapping_for_the_pae_kernel_tables_is_a_panic(
        boot, missing, rest):
    """vmm_init writes the 512 kernel page tables and then the kernel's PAE
    page directory through the boot mapping (the first 16 MiB), each in the
    lowest free frame.  A memory map whose RAM ends before one of them (none
    left), or resumes only at 16 MiB, leaves no frame the boot mapping
    reaches: a panic naming what had none (not a page fault in memset).  A
    first boot of the same machine measures where the tables go."""
    tables_before, message = CASES[missing]
    m = boot()
    m.run_to("kernel_ready")
    k = Kernel(m)
    if m.records("VMM")[0]["mode"] != "pae":
        pytest.skip("the CPU has no PAE (paging=pae fell back to legacy)")
    raw = k.read_kernel(m.symbol("kernel_tables"), 512 * 4)
    tables = [int.from_bytes(raw[i * 4:i * 4 + 4], "little") for i in range(512)]
    assert tables == [tables[0] + i * PAGE for i in range(512)], "lowest-first, consecutive"
    assert m.read_u32(m.symbol("kernel_pae_pd")) == tables[0] + 512 * PAGE
    cut = tables[0] + tables_before * PAGE  # RAM ends here
    assert cut < BOOT_MAPPED_LIMIT

    m = boot()
    m.run_to("memory_init")
    k = Kernel(m)
    regions = k.memory_regions()
    for i, r in enumerate(regions):
        if r["type"] != AVAILABLE:
            continue
        if r["start"] < cut <= r["end"]:
            assert r["end"] > BOOT_MAPPED_LIMIT, "the region goes on past the boot mapping"
            set_region(m, k, i, r["start"], cut, AVAILABLE)
            if rest != "none":
                set_region(m, k, len(regions), BOOT_MAPPED_LIMIT, r["end"], AVAILABLE)
        elif r["start"] >= cut:
            set_region(m, k, i, r["start"], r["end"], RESERVED)
    with pytest.raises(GuestPanic) as info:
        m.run_to("kernel_ready")
    assert info.value.panic["msg"] == message
