"""Bad input to the VMM: an error return, one VMM record naming the caller,
and nothing half-done."""

import pytest

from harness.decode.paging import PRESENT, USER, WRITE

VA = 0x40000000
ENOENT, ENOMEM, EEXIST, EINVAL = -2, -12, -17, -22


def refused(machine, kernel, call, args, rc, kind, op):
    before_pd = machine.read_phys(machine.reg("cr3"), 4096)
    before_pmm = kernel.pmm_stats()
    before_errors = kernel.read_struct("vmm_stats", "vmm_stats")["errors"]
    mark = machine.mark()
    assert machine.call(call, *args) == rc
    records = machine.records("VMM", since=mark)
    assert len(records) == 1 and records[0]["error"] == kind and records[0]["op"] == op
    assert records[0].int("caller") != 0
    assert machine.read_phys(machine.reg("cr3"), 4096) == before_pd, "directory unchanged"
    assert kernel.pmm_stats()["free_frames"] == before_pmm["free_frames"], "no frame taken"
    after = kernel.read_struct("vmm_stats", "vmm_stats")
    assert after["errors"] == before_errors + 1
    assert after["last_error_caller"] == records[0].int("caller"), "the stats name it too"
    return records[0]


@pytest.mark.parametrize("va,pa", [(VA + 1, 0x200000), (VA, 0x200010)])
def test_unaligned(machine, kernel, va, pa):
    record = refused(machine, kernel, "map_page", (va, pa, PRESENT), EINVAL, "unaligned", "map")
    assert (record.int("va"), record.int("pa")) == (va, pa), "each address in its own field"
    assert machine.translate(VA).pa is None


def test_existing_mapping_is_not_overwritten(machine, kernel):
    a, b = machine.call("allocate_page"), machine.call("allocate_page")
    machine.call("map_page", VA, a, PRESENT | WRITE)
    pte_before = machine.translate(VA).pte.raw
    refused(machine, kernel, "map_page", (VA, b, PRESENT), EEXIST, "exists", "map")
    assert machine.translate(VA).pte.raw == pte_before


def test_unmapping_what_is_not_mapped(machine, kernel):
    refused(machine, kernel, "unmap_page", (VA,), ENOENT, "not-mapped", "unmap")
    a = machine.call("allocate_page")
    machine.call("map_page", VA, a, PRESENT)
    machine.call("unmap_page", VA)
    refused(machine, kernel, "unmap_page", (VA,), ENOENT, "not-mapped", "unmap")


def test_user_mapping_in_kernel_space(machine, kernel):
    a = machine.call("allocate_page")
    refused(machine, kernel, "map_page", (0xF0000000, a, PRESENT | USER), EINVAL,
            "user-in-kernel-space", "map")
    assert machine.translate(0xF0000000).pa is None


def test_flags_that_are_not_page_flags(machine, kernel):
    a = machine.call("allocate_page")
    refused(machine, kernel, "map_page", (VA, a, PRESENT | 0x80), EINVAL, "bad-flags", "map")


def test_protect_of_an_unmapped_page(machine, kernel):
    refused(machine, kernel, "vmm_protect", (kernel.kernel_directory(), VA, PRESENT), ENOENT,
            "not-mapped", "protect")


@pytest.mark.machine(memory="16M")
def test_out_of_frames_for_a_page_table_leaves_no_partial_state(machine, kernel):
    frame = machine.call("allocate_page")
    taken = machine.call("agent_pmm_exhaust")
    assert taken > 0
    refused(machine, kernel, "map_page", (VA, frame, PRESENT), ENOMEM, "no-frame-for-table",
            "map")
    assert not machine.translate(VA).pde.present, "no page table left behind"
    machine.call("agent_pmm_release")
    assert machine.call("map_page", VA, frame, PRESENT) == 0, "works again with memory back"


def test_destroying_the_kernel_or_current_directory_is_refused(machine, kernel):
    mark = machine.mark()
    machine.call("destroy_page_directory", kernel.kernel_directory())
    assert machine.records("VMM", since=mark)[0]["error"] == "destroy-kernel"
    assert machine.call("agent_nop", 3) == 3, "the kernel still runs"
