"""vmm_stats counts exactly: the TLB flushes a change to a live mapping
costs, the user page tables alive, the directories alive.  The counters are
what a monitor would graph, so an update that goes missing is a bug."""

from harness.decode.paging import PRESENT, USER, WRITE

USER_VA = 0x40000000
HEAP_VA = 0xF0000000  # kernel half: live in every directory


def stats(kernel):
    return kernel.read_struct("vmm_stats", "vmm_stats")


def test_every_change_to_a_live_mapping_counts_one_flush(machine, kernel):
    kd = kernel.kernel_directory()
    frame = machine.call("allocate_page")
    before = stats(kernel)
    assert machine.call("map_page", USER_VA, frame, PRESENT | WRITE) == 0
    assert machine.call("vmm_protect", kd, USER_VA, PRESENT) == 0
    assert machine.call("unmap_page", USER_VA) == 0
    after = stats(kernel)
    assert after["tlb_flushes"] == before["tlb_flushes"] + 3
    assert (after["maps"], after["protects"], after["unmaps"]) == (
        before["maps"] + 1, before["protects"] + 1, before["unmaps"] + 1)


def test_another_directory_needs_a_flush_only_in_its_kernel_half(machine, kernel):
    d = machine.call("create_page_directory")
    frame = machine.call("allocate_page")
    before = stats(kernel)["tlb_flushes"]
    assert machine.call("vmm_map", d, USER_VA, frame, PRESENT | USER) == 0
    assert stats(kernel)["tlb_flushes"] == before, "a directory not in CR3 is not cached"
    assert machine.call("vmm_map", d, HEAP_VA, frame, PRESENT) == 0
    assert stats(kernel)["tlb_flushes"] == before + 1, "the kernel half is shared, so live"
    assert machine.call("vmm_unmap", d, HEAP_VA, 0) == 0
    assert stats(kernel)["tlb_flushes"] == before + 2


def test_destroy_takes_its_page_tables_off_the_count(machine, kernel):
    before = stats(kernel)
    d = machine.call("create_page_directory")
    for va in (0x00400000, 0x00401000, 0x40000000):  # two page tables
        frame = machine.call("allocate_page")
        assert machine.call("vmm_map", d, va, frame, PRESENT | USER | WRITE | 0x200) == 0
    during = stats(kernel)
    assert (during["user_page_tables"], during["directories"]) == (
        before["user_page_tables"] + 2, before["directories"] + 1)
    machine.call("destroy_page_directory", d)
    after = stats(kernel)
    assert (after["user_page_tables"], after["directories"]) == (
        before["user_page_tables"], before["directories"])
