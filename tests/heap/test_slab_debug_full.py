"""heap_debug=full: the boot record says which mode the heap is in, and every
small block is handed out and taken back by the checking slow path.

With debugging on, slab_init points every size at the debug class, which
never has slabs, so the inline fast path always defers.  The first block
of a class goes the slow way anyway (no slab yet); the second one is the one
the fast path would hand out (as a plain live block, with only the first
bytes poisoned again when it is freed)."""

import pytest

CANARY_LIVE_DEBUG = 0xA110DEB6
POISON = b"\x6b"
HEADER = 16
# The heap's layout, written down (memlayout.h, heap_internal.h): 64 MiB of
# slabs at the heap's base, the large region from there to the limit.
HEAP_BASE, SLABS, LARGE, LIMIT = 0xF0000000, 0xF0000000, 0xF4000000, 0xFF000000


@pytest.mark.parametrize(("cmdline", "mode"), [("", "default"), ("heap_debug=full", "full")])
def test_the_boot_record_names_the_heap_layout_and_mode(boot, cmdline, mode):
    m = boot(cmdline=cmdline)
    m.run_to("kernel_ready")
    records = [r for r in m.records("HEAP") if "base" in r.fields]
    assert [r.fields for r in records] == [{
        "base": f"{HEAP_BASE:#010x}", "slabs": f"{SLABS:#010x}", "large": f"{LARGE:#010x}",
        "limit": f"{LIMIT:#010x}", "debug": mode}]


@pytest.mark.machine(cmdline="heap_debug=full")
@pytest.mark.parametrize("size", [24, 500, 2000])
def test_every_block_is_a_debug_block_and_freed_whole(machine, size):
    blocks = [machine.call("kmalloc", size) for _ in range(3)]
    for p in blocks:
        assert machine.read_u32(p - HEADER) == CANARY_LIVE_DEBUG ^ p, "handed out as debug"
    for p in blocks:
        machine.write(p, b"\x00" * size)
        machine.call("kfree", p)
        assert machine.read(p, size) == POISON * size, "the whole block poisoned"
