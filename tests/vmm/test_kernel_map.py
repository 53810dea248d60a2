"""The kernel's own address space after boot: least privilege, no low
mappings, and three independent readings of it that agree."""

from harness.decode.paging import ACCESSED, DIRTY, GLOBAL
from harness.machine.oracle import walker_disagreements
from tests.expected import KERNEL_BASE, PAGE_EXEC

PAGE = 4096


def test_walker_and_qemu_agree_after_boot(machine):
    assert walker_disagreements(machine) == []


def test_kernel_lookup_agrees_with_the_walker(machine, kernel):
    aspace = machine.address_space()
    scratch = machine.symbol("agent_scratch")
    out_pa, out_flags = scratch, scratch + 4
    for va in (machine.symbol("kmain"), machine.symbol("pmm_stats"), scratch,
               kernel.u32("pmm_bitmap"), machine.symbol("boot_stack_top") - PAGE):
        va &= ~(PAGE - 1)
        assert machine.call("vmm_lookup", machine.symbol("kernel_page_directory"), va,
                            out_pa, out_flags) == 0
        pa, flags = machine.read_u32(out_pa), machine.read_u32(out_flags)
        t = aspace.translate(va)
        used = ACCESSED | DIRTY  # set by the CPU as the kernel runs
        assert t.pa == pa and t.pte.raw & 0xFFF & ~used == flags & 0xFFF & ~used & ~PAGE_EXEC
        assert bool(flags & PAGE_EXEC) == t.execute, f"{va:#x}: lookup's PAGE_EXEC"


def test_nothing_below_the_kernel_half_is_mapped(machine):
    regions = machine.address_space().regions()
    assert regions and all(r.start >= KERNEL_BASE for r in regions)
    assert machine.translate(0).pa is None, "the null page is unmapped"


def test_text_and_rodata_read_only_data_writable_all_supervisor(machine):
    t = machine.address_space()
    for sym, writable in (("kmain", False), ("exception_name", False),
                          ("__rodata_start", False), ("pmm_stats", True),
                          ("agent_scratch", True)):
        tr = t.translate(machine.symbol(sym))
        assert tr.pa is not None, sym
        assert tr.write == writable, f"{sym} writable={tr.write}"
        assert not tr.user, f"{sym} must be supervisor-only"


def test_boot_stack_has_a_guard_page(machine):
    guard = machine.symbol("boot_stack_guard")
    assert machine.translate(guard).pa is None
    assert machine.translate(guard + PAGE).pa is not None


def test_kernel_pages_are_global_when_the_cpu_has_pge(machine, kernel):
    cpu = machine.records("CPU")[0]
    aspace = machine.address_space()
    kmain = aspace.translate(machine.symbol("kmain")).pte
    if cpu["pge"] == "1":
        assert machine.reg("cr4") & 0x80, "CR4.PGE"
        assert kmain.raw & GLOBAL
    else:
        assert not kmain.raw & GLOBAL


def test_every_kernel_page_table_exists_from_boot(machine, kernel):
    aspace = machine.address_space()
    if kernel.paging_mode() == "pae":  # tables by 2 MiB slot: 0xC0000000 >> 21 = 1536
        assert sorted(aspace.tables) == list(range(1536, 2048))
    else:
        assert sorted(aspace.tables) == list(range(768, 1024))


def test_boot_record_describes_the_kernel_tables(machine, kernel):
    """vmm_init's one record: what CR3 holds for the kernel, the kernel
    half's directory and tables (legacy: 256, PDE 768-1023; PAE: 512, the
    directory in PDPT entry 3), the end of the 768 MiB direct map, and
    whether kernel pages are global (as the CPU record says PGE is there)."""
    vmm = machine.records("VMM")[0]
    cr3 = machine.reg("cr3")
    assert cr3 == machine.symbol("kernel_page_directory") - KERNEL_BASE
    if kernel.paging_mode() == "pae":
        assert vmm["mode"] == "pae"
        assert vmm.int("kernel_pdpt") == cr3
        pdpte3 = int.from_bytes(machine.read_phys(cr3 + 24, 8), "little")
        assert vmm.int("kernel_pd") == pdpte3 & 0xFFFFF000
        assert vmm.int("tables") == 512
    else:
        assert vmm["mode"] == "legacy" and "kernel_pdpt" not in vmm.fields
        assert vmm.int("kernel_pd") == cr3
        assert vmm.int("tables") == 256
    assert vmm.int("direct_map_end") == KERNEL_BASE + 0x30000000
    assert vmm["global"] == machine.records("CPU")[0]["pge"]
