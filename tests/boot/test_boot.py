"""The firmware boots, reaches kernel_ready, and is what GDB says it is."""

CR0_PE = 1 << 0
CR0_WP = 1 << 16
CR0_PG = 1 << 31
KERNEL_BASE = 0xC0000000


def test_banner_and_ready_records_on_serial(machine):
    tags = [r.tag for r in machine.records()]
    assert tags[0] == "BOOT"
    assert "CPU" in tags
    assert tags[-1] == "READY"
    assert machine.records("BOOT")[0]["version"]


def test_stopped_at_kernel_ready(machine):
    assert machine.reg("eip") == machine.symbol("kernel_ready")


def test_protected_mode_and_paging_are_on(machine):
    cr0 = machine.reg("cr0")
    assert cr0 & CR0_PE
    assert cr0 & CR0_PG
    assert cr0 & CR0_WP, "CR0.WP must be set so the kernel honours read-only pages"


def test_cr3_is_the_kernel_page_directory(machine):
    assert machine.reg("cr3") == machine.symbol("kernel_page_directory") - KERNEL_BASE


def test_kernel_is_linked_high_and_loaded_at_1mib(machine):
    assert machine.symbol("__kernel_start") == KERNEL_BASE + 0x100000
    assert machine.symbol("kmain") > KERNEL_BASE


def test_memory_written_through_gdb_reads_back(machine):
    scratch = machine.symbol("agent_scratch")
    pattern = bytes(range(256)) * 4
    machine.write(scratch, pattern)
    assert machine.read(scratch, len(pattern)) == pattern


def test_physical_and_virtual_reads_of_kernel_bytes_agree(machine):
    start = machine.symbol("__kernel_start")
    virt = machine.read(start, 64)
    assert machine.read_phys(start - KERNEL_BASE, 64) == virt
    assert virt[:4] == (0x1BADB002).to_bytes(4, "little"), "multiboot header comes first"


def test_physical_write_is_seen_at_the_virtual_address(machine):
    scratch = machine.symbol("agent_scratch")
    machine.write_phys(scratch - KERNEL_BASE, b"\xa5\x5a\xc3\x3c")
    assert machine.read(scratch, 4) == b"\xa5\x5a\xc3\x3c"


def test_physical_read_below_1mib_goes_through_gdb(machine):
    # Below 1 MiB is outside the mapped RAM window; GDB's physical mode serves it.
    assert machine.read_phys(0x7000, 16) == machine.read_phys(0x7000, 16)
    assert len(machine.read_phys(0xFFFF0, 16)) == 16


def test_inferior_call_returns_value(machine):
    assert machine.call("agent_nop", 0xDEADBEEF) == 0xDEADBEEF


def test_registers_include_control_registers(machine):
    regs = machine.registers()
    for name in ("eax", "esp", "eip", "eflags", "cs", "cr0", "cr2", "cr3", "cr4"):
        assert name in regs


def test_register_write_is_seen_by_the_guest(machine):
    machine.set_reg("eax", 0x1234ABCD)
    assert machine.reg("eax") == 0x1234ABCD
