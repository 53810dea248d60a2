"""TLB invalidation: the kernel flushes every change to a live mapping, and
the test can tell when a flush is missing (a page-table write alone does not
reach the TLB, on QEMU as on hardware).

Global pages are not tested for surviving a CR3 reload: the SDM allows a CPU
to keep them, and QEMU's TCG flushes its whole TLB on any CR3 write."""

from harness.decode.paging import PRESENT, WRITE

VA = 0x40000000
EFAULT = -14


def frames_with(machine, *patterns):
    frames = []
    for p in patterns:
        f = machine.call("allocate_page")
        machine.write_phys(f, p.to_bytes(4, "little"))
        frames.append(f)
    return frames


def probe(machine, va):
    rc = machine.call("agent_probe_read", va)
    return rc, machine.read_u32(machine.symbol("agent_probe_value")) if rc == 0 else None


def test_unmap_flushes_so_the_next_touch_faults(machine):
    (a,) = frames_with(machine, 0xAAAA0001)
    machine.call("map_page", VA, a, PRESENT | WRITE)
    assert probe(machine, VA) == (0, 0xAAAA0001)  # the translation is now cached
    machine.call("unmap_page", VA)
    assert probe(machine, VA) == (EFAULT, None), "a stale translation survived unmap"
    fault = machine.records("PF")[-1]
    assert fault.int("addr") == VA and fault["kind"] == "not-present"


def test_protect_flushes_so_a_write_faults(machine, kernel):
    (a,) = frames_with(machine, 1)
    machine.call("map_page", VA, a, PRESENT | WRITE)
    assert machine.call("agent_probe_write", VA, 2) == 0  # cached as writable
    machine.call("vmm_protect", kernel.kernel_directory(), VA, PRESENT)
    assert machine.call("agent_probe_write", VA, 3) == EFAULT
    assert machine.read_phys_u32(a) == 2


def test_a_poked_entry_without_invlpg_keeps_the_old_translation(machine):
    """The control experiment: change the PTE behind the kernel's back.  The
    CPU keeps using the cached frame until the kernel flushes."""
    a, b = frames_with(machine, 0xAAAA0001, 0xBBBB0002)
    machine.call("map_page", VA, a, PRESENT | WRITE)
    assert probe(machine, VA) == (0, 0xAAAA0001)
    machine.write_pte(VA, b | PRESENT | WRITE)
    assert machine.translate(VA).pa == b, "the page table now says b"
    assert probe(machine, VA) == (0, 0xAAAA0001), "but the TLB still says a"
    machine.call("agent_invlpg", VA)
    assert probe(machine, VA) == (0, 0xBBBB0002)


def test_cr3_reload_flushes_non_global_entries(machine):
    a, b = frames_with(machine, 0x11, 0x22)
    machine.call("map_page", VA, a, PRESENT | WRITE)
    probe(machine, VA)
    machine.write_pte(VA, b | PRESENT | WRITE)
    machine.call("agent_reload_cr3")
    assert probe(machine, VA) == (0, 0x22)
