"""Memory accesses outside what exists raise MemoryRangeError with the
address, the size and the valid range, before anything reaches the guest."""

import pytest

from harness import MemoryRangeError

RAM_END = 64 << 20  # the default 64 MiB machine
SPACE_END = 1 << 32


@pytest.mark.parametrize(("addr", "size"), [
    (RAM_END, 4),           # just past the end of RAM
    (RAM_END - 4, 8),       # across the end
    (0xFEE00000, 4),        # the local APIC, not RAM
    (0x100000, -1),
    (0x100000, 0),
    (-4096, 16),
], ids=["beyond", "across", "mmio", "size-1", "size0", "negative"])
def test_physical_reads_outside_ram_are_refused(machine, addr, size):
    with pytest.raises(MemoryRangeError) as info:
        machine.read_phys(addr, size)
    assert (info.value.addr, info.value.size, info.value.valid) == (addr, size, (0, RAM_END))
    message = str(info.value)
    assert f"read_phys of {size} bytes at {addr:#x}" in message
    assert "[0x0, 0x4000000)" in message and "64 MiB" in message


def test_a_physical_write_across_the_end_of_ram_is_refused_and_writes_nothing(machine):
    last_page = RAM_END - 4096
    before = machine.read_phys(last_page, 4096)
    with pytest.raises(MemoryRangeError) as info:
        machine.write_phys(RAM_END - 4, b"\xaa" * 8)
    assert (info.value.addr, info.value.size, info.value.valid) == (RAM_END - 4, 8, (0, RAM_END))
    assert machine.read_phys(last_page, 4096) == before
    assert machine.monitor(f"xp /1wx {RAM_END - 4:#x}").split()[-1] == (
        f"{int.from_bytes(before[-4:], 'little'):#010x}"), "QEMU's own view agrees"


@pytest.mark.parametrize(("op", "addr", "size"), [
    ("read", 0xC0100000, 0),
    ("read", 0xC0100000, -1),
    ("read", -16, 4),
    ("read", SPACE_END - 4, 8),
    ("write", -4, 1),
    ("write", 0xC0100000, 0),
    ("write", SPACE_END - 2, 4),
], ids=["read-size0", "read-size-1", "read-negative", "read-past-4G", "write-negative",
        "write-empty", "write-past-4G"])
def test_virtual_accesses_outside_the_address_space_are_refused(machine, op, addr, size):
    with pytest.raises(MemoryRangeError) as info:
        if op == "read":
            machine.read(addr, size)
        else:
            machine.write(addr, b"\x5a" * max(size, 0))
    assert (info.value.addr, info.value.size, info.value.valid) == (addr, size, (0, SPACE_END))
    assert f"{op} of {size} bytes at {addr:#x}" in str(info.value)
    assert "[0x0, 0x100000000)" in str(info.value)
    assert machine.call("agent_nop", 6) == 6, "nothing reached GDB"
