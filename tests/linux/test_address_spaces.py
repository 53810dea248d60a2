"""The harness's page-table walker equals QEMU's own view (info mem, info
tlb) on Debian's kernel: for the kernel's address space (init_mm's
swapper_pg_dir) and for a user process stopped in one of its system calls."""

from __future__ import annotations

import struct

import pytest

from harness.machine.oracle import walker_disagreements
from harness.targets.linux import kernel
from harness.targets.linux.kernel import PAGE_OFFSET, PT_REGS_IP

from .conftest import stop_in_read

pytestmark = pytest.mark.machine(target="linux")

USER_CS = 0x73  # __USER_CS: GDT entry 14, RPL 3
MARKER_WORDS = (0x4B52414D, 0x4D4D5646, 0xDEADBEEF, 0x12345678)  # "MARK" at run time, "FVMM"...


def kernel_half(machine, cr3: int) -> tuple[int, ...]:
    directory = struct.unpack("<1024I", machine.read_phys(cr3 & ~0xFFF, 4096))
    return directory[PAGE_OFFSET >> 22:]


def test_a_process_in_a_system_call_walker_equals_qemu(machine, shell, ksym, probe):
    stop_in_read(machine, shell, ksym, probe, "block")
    regs = machine.registers("eax", "cr3", "cr4")
    frame = struct.unpack("<2I", machine.read(regs["eax"] + PT_REGS_IP, 8))
    assert frame == (probe["mmv_syscall_ret"], USER_CS), "in mmvprobe's own read()"
    assert regs["cr3"] != kernel.swapper_pg_dir(machine.cfg.kernel)

    assert walker_disagreements(machine) == []
    aspace = machine.address_space()
    marker = aspace.translate(probe["mmv_marker"])
    assert marker.pa is not None and marker.pte is not None
    assert marker.pte.user and marker.pte.write and marker.pte.dirty
    assert struct.unpack("<4I", machine.read_phys(marker.pa, 16)) == MARKER_WORDS
    regions = aspace.regions()
    assert any(r.start <= probe["mmv_marker"] < r.end and r.user and r.write for r in regions)
    assert all(not r.user for r in regions if r.start >= PAGE_OFFSET)
    # The kernel half is the kernel's: the same directory entries as swapper_pg_dir.
    assert kernel_half(machine, regs["cr3"]) == kernel_half(
        machine, kernel.swapper_pg_dir(machine.cfg.kernel))


def test_the_kernel_address_space_walker_equals_qemu(machine, ksym):
    swapper = kernel.swapper_pg_dir(machine.cfg.kernel)
    machine.write_registers(cr3=swapper)  # QEMU's info mem/tlb read the current CR3
    assert machine.reg("cr3") == swapper

    assert walker_disagreements(machine) == []
    aspace = machine.address_space()
    assert [r for r in aspace.regions() if r.start < PAGE_OFFSET] == [], "no user half"
    text = aspace.translate(ksym["_stext"])
    assert text.pa == ksym["_stext"] - PAGE_OFFSET == 0x1000000  # nokaslr: PHYSICAL_START
    assert text.pte is None and text.pde.global_ and not text.pde.write  # a 4 MiB RO page
    handler = aspace.translate(ksym["exc_page_fault"])
    assert handler.pa == ksym["exc_page_fault"] - PAGE_OFFSET


def test_the_image_ksymtab_and_the_running_kallsyms_agree(machine, ksym, linux_assets):
    """Both sources of addresses without a symbol file name the same places."""
    exported = kernel.exported(linux_assets.vmlinuz)
    assert exported["handle_mm_fault"] == ksym["handle_mm_fault"]  # cached kallsyms
    live = kernel.read_kallsyms(machine, ["copy_from_user_nmi", "handle_mm_fault"])
    assert live == {"copy_from_user_nmi": exported["copy_from_user_nmi"],
                    "handle_mm_fault": ksym["handle_mm_fault"]}
    assert not machine.gdb.running, "read at the prompt, stopped again"
