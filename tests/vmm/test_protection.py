"""The protection matrix from the kernel side, with the error code the CPU
pushed checked at the page-fault handler's entry (expect_fault)."""

import pytest

from harness.decode.paging import PRESENT, PS, WRITE
from harness.machine.faults import expect_fault

EFAULT = -14


def test_write_to_read_only_kernel_text_faults_with_p_w(machine, kernel):
    text = machine.symbol("kmain")
    before = machine.read(text, 4)
    with expect_fault(machine, addr=text, present=True, write=True, user=False,
                      kind="protection"):
        machine.call("agent_probe_write", text, 0xDEADBEEF)
    assert machine.read(text, 4) == before, "CR0.WP: the kernel cannot write its text"
    last = kernel.fault_log()[-1]
    assert last.fault.addr == text and last.action == "fixup"
    assert last.reason == "write-to-read-only"


def test_write_to_read_only_rodata_faults(machine):
    rodata = machine.symbol("__rodata_start")
    with expect_fault(machine, addr=rodata, present=True, write=True, user=False):
        machine.call("agent_probe_write", rodata, 1)


def test_read_of_unmapped_page_faults_not_present(machine, kernel):
    with expect_fault(machine, addr=0xDEAD0000, present=False, write=False, user=False,
                      kind="not-present"):
        machine.call("agent_probe_read", 0xDEAD0000)
    assert kernel.fault_log()[-1].reason == "unmapped"


def test_null_page_is_not_mapped_for_the_kernel_either(machine, kernel):
    with expect_fault(machine, addr=0, present=False):
        machine.call("agent_probe_read", 0)
    assert kernel.fault_log()[-1].reason == "null-pointer"


def test_the_probe_reports_efault_and_counts(machine, kernel):
    before = kernel.fault_stats()
    assert machine.call("agent_probe_read", 0xDEAD0000) == EFAULT
    after = kernel.fault_stats()
    assert after["total"] == before["total"] + 1
    assert after["by_kind"][0] == before["by_kind"][0] + 1  # not-present
    assert after["by_action"][1] == before["by_action"][1] + 1  # fixup
    assert after["kernel"] == before["kernel"] + 1


@pytest.mark.machine(cmdline="paging=legacy")  # a legacy 4 MiB PDE, written by hand
def test_reserved_bit_in_a_large_pde_faults_with_rsvd(machine, kernel):
    """SDM 4.3: with CR4.PSE, bit 21 of a 4 MiB PDE is reserved (32-bit
    physical addresses).  QEMU models it: the walk faults with RSVD=1.  The SDM
    (4.7) says P is then 1 too; QEMU 7.2 reports err=0x8 with P=0, so P is not
    asserted here, and the kernel classifies by RSVD first."""
    va = 0x00800000
    pde_addr = machine.reg("cr3") + (va >> 22) * 4
    machine.write_phys_u32(pde_addr, 0x00800000 | 1 << 21 | PS | PRESENT | WRITE)
    machine.set_reg("cr4", machine.reg("cr4") | 0x10)  # CR4.PSE
    with expect_fault(machine, addr=va, reserved=True, write=False, user=False,
                      kind="reserved-bit"):
        machine.call("agent_probe_read", va)
    rec = kernel.fault_log()[-1]
    assert rec.kind == "reserved-bit" and rec.reason == "reserved-bit"
    machine.write_phys_u32(pde_addr, 0)
    machine.call("agent_reload_cr3")


def test_expect_fault_fails_when_nothing_faults(machine):
    import pytest

    with pytest.raises(AssertionError, match="none reached"), \
            expect_fault(machine, addr=0x1234):
        machine.call("agent_nop", 1)


def test_expect_fault_fails_on_the_wrong_bits(machine):
    import pytest

    with pytest.raises(AssertionError, match="write: expected True, got False"), \
            expect_fault(machine, addr=0xDEAD0000, write=True):
        machine.call("agent_probe_read", 0xDEAD0000)
