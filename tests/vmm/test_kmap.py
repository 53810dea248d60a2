"""kmap: frames below the direct-map limit come back as their direct-map
address; frames above it (RAM beyond 768 MiB) get a window each, one slot per
live window, taken back by kunmap."""

import pytest

from harness.decode.paging import PRESENT, WRITE
from tests.expected import KERNEL_BASE

pytestmark = pytest.mark.machine(memory="1G")
# The walker against info mem/info tlb on 1 GiB (768 MiB of direct map) takes
# ~12 s a test; test_kernel_map and the other tests here cover that agreement.
WALKER_CHECK = False

HIGH = 0x30000000  # the first frame the direct map does not reach
KMAP_BASE = 0xFFC00000


def test_a_low_frame_is_its_direct_map_address(machine):
    assert machine.call("kmap", 0x00200123) & 0xFFFFFFFF == KERNEL_BASE + 0x00200123
    machine.call("kunmap", KERNEL_BASE + 0x00200123)  # nothing to give back


def test_high_frames_get_a_window_each(machine):
    frames = [HIGH + i * 0x1000 for i in range(4)]
    for i, pa in enumerate(frames):
        machine.write_phys(pa, b"frame %d" % i)
    windows = [machine.call("kmap", pa + 8) & 0xFFFFFFFF for pa in frames]
    assert windows == [KMAP_BASE + i * 0x1000 + 8 for i in range(4)], "four slots, in order"
    aspace = machine.address_space()
    for i, va in enumerate(windows):
        t = aspace.translate(va)
        assert (t.pa, t.pte.raw & (PRESENT | WRITE)) == (frames[i] + 8, PRESENT | WRITE)
        assert machine.read(va - 8, 7) == b"frame %d" % i
    machine.call("kunmap", windows[1])
    assert machine.translate(windows[1]).pa is None
    assert machine.call("kmap", frames[3] + 0x1000) & 0xFFFFFFFF == KMAP_BASE + 0x1000, \
        "the freed slot is reused"
    for va in windows[:1] + windows[1:]:
        machine.call("kunmap", va)
    assert [machine.translate(KMAP_BASE + i * 0x1000).pa for i in range(4)] == [None] * 4
