"""Legacy paging maps any frame below 4 GiB: vmm_map_pfn takes a frame
between 2 and 4 GiB on a 3 GiB machine (its bound is the 32-bit address, not
the sign bit), and the mapping reads what the host wrote into that frame of
the RAM file; a frame at 4 GiB is refused (beyond-4g).

Booted fresh: three boots cost less than the pool's ready snapshot of 3 GiB
(2 to 7 s, by load)."""

import pytest

GIB = 1 << 30
VA = 0xFEFFF000  # the top page of the kernel heap's range: never mapped at boot
PAGE_WRITE = 0x2
EINVAL = 22

pytestmark = [pytest.mark.cold_boot, pytest.mark.machine(memory="3G", cmdline="paging=legacy")]


@pytest.mark.parametrize("pa", [2 * GIB, 3 * GIB - 4096])
def test_a_frame_above_2_gib_maps_in_legacy_paging(machine, pa):
    directory = machine.symbol("kernel_page_directory")
    machine.write_phys(pa, b"above 2 GiB")
    assert machine.call("vmm_map_pfn", directory, VA, pa >> 12, PAGE_WRITE) == 0
    assert machine.read(VA, 11) == b"above 2 GiB"
    assert machine.translate(VA).pa == pa
    assert machine.call("vmm_unmap", directory, VA, 0) == 0


def test_a_frame_at_4_gib_is_refused_in_legacy_paging(machine):
    directory = machine.symbol("kernel_page_directory")
    mark = machine.mark()
    result = machine.call("vmm_map_pfn", directory, VA, 1 << 20, PAGE_WRITE)
    assert result == -EINVAL
    [rec] = machine.records("VMM", since=mark)
    assert rec["error"] == "beyond-4g"
