"""Layout soundness and the entropy estimate (pure)."""

from harness.targets.mmverify.constants import firmware_constants
from harness.targets.mmverify.layouts import Layout, entropy_bits


def test_entropy_estimate():
    assert entropy_bits([1] * 8) == 0
    assert entropy_bits(range(1024)) == 10
    assert entropy_bits([0, 0, 1, 1]) == 1


def test_layout_problems(firmware):
    room = firmware_constants(firmware.kernel)
    assert Layout(0x80000000, 0xA0000000, 0xC0000000).problems(room) == []
    assert Layout(0x80000000, 0x88000000, 0xC0000000).problems(room) == [
        "heap and its room overlap shared memory"]
    assert "shared memory overlaps the stack or its guard page" in Layout(
        0x80000000, 0xBC000000, 0xC0000000).problems(room)
    assert Layout(0x80000000, 0xA0000000, 0xC0001000).problems(room) == [
        "stack reaches the kernel"]


def test_the_constants_are_the_firmwares_own(firmware):
    # Read from kernel.elf, where the headers' values were compiled in.
    assert firmware_constants(firmware.kernel) == {
        "KERNEL_BASE": 0xC0000000, "FRAME_SIZE": 4096, "USER_TOP": 0xC0000000,
        "USER_HEAP_MAX": 256 << 20, "USER_SHM_SPAN": 64 << 20, "USER_STACK_MAX": 1 << 20,
        "PAGE_EXEC": 0x400,  # vmm.h's software flag: lookup's execute right
        # mm/heap_large.c's, for the mm heap GDB command
        "SLAB_BASE": 0xF0000000, "SLAB_CHUNK": 0x4000, "SLAB_MAGIC": 0x51AB51AB,
        "LARGE_BASE": 0xF4000000, "LARGE_MIN_BLOCK": 64, "LARGE_TAG_USED": 1,
        "LARGE_TAG_FLAGS": 0xF, "CANARY_LIVE": 0xA110C8ED, "CANARY_LIVE_DEBUG": 0xA110DEB6,
        "CANARY_QUARANTINED": 0xBADB10C5,
        # fs/bcache.h's, for the mm cache GDB command
        "BUF_VALID": 1, "BUF_DIRTY": 2, "BCACHE_BLOCK_SIZE": 4096}
