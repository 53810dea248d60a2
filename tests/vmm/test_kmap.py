"""kmap: frames below the direct-map limit come back as their direct-map
address; frames above it (RAM beyond 768 MiB) get a window each, one slot per
live window, taken back by kunmap."""

import pytest

from harness import GuestPanic
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


def test_kunmap_flushes_the_window_so_the_next_touch_faults(machine):
    """kunmap clears the slot's entry and invalidates its TLB entry: a kernel
    read through the old window, cached a moment before, now faults."""
    machine.write_phys(HIGH, (0x4B4D4150).to_bytes(4, "little"))
    window = machine.call("kmap", HIGH) & 0xFFFFFFFF
    assert machine.call("agent_probe_read", window) == 0  # the translation is now cached
    assert machine.read_u32(machine.symbol("agent_probe_value")) == 0x4B4D4150
    machine.call("kunmap", window)
    assert machine.call("agent_probe_read", window) == -14, "a stale TLB entry survived kunmap"
    fault = machine.records("PF")[-1]
    assert (fault.int("addr"), fault["kind"]) == (window, "not-present")


def test_kunmap_just_past_the_last_slot_panics_naming_the_check(machine):
    """There are four slots: an address in the fifth page is no window, and
    kunmap stops the kernel at its bounds check rather than clear an entry
    that is not a slot's."""
    with pytest.raises(GuestPanic):
        machine.call("kunmap", KMAP_BASE + 4 * 0x1000)
    panic = machine.records("PANIC")[-1]
    assert (panic["where"], panic["msg"]) == (
        "kunmap", "assertion failed: slot < KMAP_SLOTS && kmap_busy[slot]")
